// Durations as operators write them ("250ms", "1.5s", "2s", "1m", "1h"), parsed to milliseconds.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(-?\d+(?:\.\d+)?)(ms|s|m|h)$/;
const FORM = 'a duration like 250ms, 2s or 1m';
/** Node's timers hold a signed 32-bit count of ms; a longer one fires after 1 ms instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Parses a duration string to whole milliseconds, or returns null when it is not a positive duration. */
export function parseDuration(text: string): number | null {
  const ms = readDuration(text);
  return typeof ms === 'number' ? ms : null;
}

/**
 * Reads a config value as a positive duration: whole milliseconds, or a message naming what is
 * wrong ("5" without a unit, "-1s", "2 s", "0s", "1.0005s").
 */
export function readDuration(value: unknown): number | string {
  if (typeof value === 'number') return `${value} has no unit; write ${value}s or ${value}ms (${FORM})`;
  if (typeof value !== 'string') return `expected ${FORM}, got ${JSON.stringify(value)}`;
  const text = value.trim();
  const match = DURATION.exec(text);
  if (!match) return `${JSON.stringify(text)} is not ${FORM}`;
  const ms = Number(match[1]) * UNIT_MS[match[2]!]!;
  if (ms < 0) return `${JSON.stringify(text)} is negative; expected ${FORM}`;
  if (ms === 0) return `${JSON.stringify(text)} is zero; expected ${FORM}`;
  // 1.5s is 1500ms exactly; 1.0005s would need sub-millisecond timers.
  const rounded = Math.round(ms);
  if (!Number.isFinite(ms) || Math.abs(ms - rounded) > 1e-6) return `${JSON.stringify(text)} is finer than a millisecond`;
  if (rounded > MAX_TIMER_MS) return `${JSON.stringify(text)} is longer than ${Math.floor(MAX_TIMER_MS / 3_600_000)}h, the longest a timer can wait`;
  return rounded;
}

/** Formats milliseconds back into the shortest exact duration string. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
