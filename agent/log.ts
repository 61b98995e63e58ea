// The agent's logger: pino JSON on stdout for journald (SPEC §5). Its level comes from
// HA_AGENT_LOG_LEVEL, read and checked here once, so a bad value is an error that names it.

import { pino, destination as pinoDestination, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVEL_VARIABLE = 'HA_AGENT_LOG_LEVEL';

/** pino's levels, most verbose first; silent logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level HA_AGENT_LOG_LEVEL asks for (unset or empty: info), or a message naming the variable and the levels. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): { ok: true; level: LogLevel } | { ok: false; message: string } {
  const raw = env[LOG_LEVEL_VARIABLE];
  if (raw === undefined || raw.trim() === '') return { ok: true, level: 'info' };
  const level = LOG_LEVELS.find((l) => l === raw.trim().toLowerCase());
  if (level) return { ok: true, level };
  return { ok: false, message: `${LOG_LEVEL_VARIABLE}: ${JSON.stringify(raw)} is not a log level; use one of ${LOG_LEVELS.join(', ')}` };
}

/** The level from the environment; throws with logLevelFromEnv's message when it is not one. */
function envLevel(): LogLevel {
  const read = logLevelFromEnv();
  if (!read.ok) throw new Error(read.message);
  return read.level;
}

export function createLogger(level: string = envLevel(), destination?: NodeJS.WritableStream): Logger {
  return pino({ name: 'ha-agent', level, base: { pid: process.pid } }, destination ?? pinoDestination({ dest: 1, sync: true }));
}

/** A logger that drops everything, for unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
