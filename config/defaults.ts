// Defaults that agentctl needs too. No imports: agentctl reads this without loading zod.

/** control.socket when the config gives none, and agentctl's --socket default. */
export const DEFAULT_CONTROL_SOCKET = '/run/ha-agent/agent.sock';
