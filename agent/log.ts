// The agent's logger: pino JSON on stdout for journald (SPEC §5). When stdout is the journal,
// each line starts with its syslog priority (<3>, <4>, <6>...), which journald takes as the
// entry's priority (SyslogLevelPrefix=, on by default), so `journalctl -p warning` shows warnings
// and errors only; elsewhere the lines are plain JSON. The level is the config's `log.level`,
// HA_AGENT_LOG_LEVEL overrides it; both are checked, so a bad value is an error that names it.

import { fstatSync } from 'node:fs';
import { pino, destination as pinoDestination, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVEL_VARIABLE = 'HA_AGENT_LOG_LEVEL';

/** pino's levels, most verbose first; silent logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level HA_AGENT_LOG_LEVEL asks for (unset or empty: `fallback`), or a message naming the variable and the levels. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env, fallback: LogLevel = 'info'): { ok: true; level: LogLevel } | { ok: false; message: string } {
  const raw = env[LOG_LEVEL_VARIABLE];
  if (raw === undefined || raw.trim() === '') return { ok: true, level: fallback };
  const level = LOG_LEVELS.find((l) => l === raw.trim().toLowerCase());
  if (level) return { ok: true, level };
  return { ok: false, message: `${LOG_LEVEL_VARIABLE}: ${JSON.stringify(raw)} is not a log level; use one of ${LOG_LEVELS.join(', ')}` };
}

/** The level from the environment, else `fallback` (the config's); throws with logLevelFromEnv's message when it is not one. */
export function effectiveLogLevel(fallback: LogLevel = 'info', env: NodeJS.ProcessEnv = process.env): LogLevel {
  const read = logLevelFromEnv(env, fallback);
  if (!read.ok) throw new Error(read.message);
  return read.level;
}

/** syslog(3) priority of a pino level number: fatal crit, error err, warn warning, info info, debug and trace debug. */
export function journalPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/**
 * Whether `fd` is the stream systemd connected to the journal: JOURNAL_STREAM holds its
 * "device:inode" (systemd.exec(5)). A child whose stdout was redirected elsewhere inherits the
 * variable too, so the check compares it with what `fd` really is.
 */
export function isJournalStream(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!match) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(match[1]!) && stat.ino === BigInt(match[2]!);
  } catch {
    return false;
  }
}

/**
 * A destination that puts each line's syslog priority in front of it. pino tells the level of
 * the line it writes through the metadata protocol (`lastLevel`, set before each write), so
 * this stays a synchronous write on the logging thread: no worker, no reparse of the JSON.
 */
export function journalDestination(out: DestinationStream & { flushSync?: () => void; flush?: (cb?: (err?: Error) => void) => void }): DestinationStream {
  const stream = {
    [Symbol.for('pino.metadata')]: true,
    lastLevel: 30,
    write(line: string): void {
      out.write(`<${journalPriority(stream.lastLevel)}>${line}`);
    },
    flush: (cb?: (err?: Error) => void) => (out.flush ? out.flush(cb) : cb?.()),
    flushSync: () => out.flushSync?.(),
  };
  return stream;
}

/** The agent's logger, on `destination` or stdout (with priorities when stdout is the journal). */
export function createLogger(level: string = effectiveLogLevel(), destination?: DestinationStream): Logger {
  let out = destination;
  if (!out) {
    const stdout = pinoDestination({ dest: 1, sync: true });
    out = isJournalStream() ? journalDestination(stdout) : stdout;
  }
  return pino({ name: 'ha-agent', level, base: { pid: process.pid } }, out);
}

/** A logger that drops everything, for unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
