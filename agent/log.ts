// The agent's logger: pino JSON on stdout for journald (SPEC §5).

import { pino, destination as pinoDestination, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env.HA_AGENT_LOG_LEVEL ?? 'info', destination?: NodeJS.WritableStream): Logger {
  return pino({ name: 'ha-agent', level, base: { pid: process.pid } }, destination ?? pinoDestination({ dest: 1, sync: true }));
}

/** A logger that drops everything, for unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
