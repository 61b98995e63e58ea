// The shapes every probe shares: what is checked, how it went, and the probe signature.

/** One backend as a probe sees it: the address to check and the names that go in messages. */
export interface CheckTarget {
  readonly farm: string;
  readonly backend: string;
  readonly ip: string;
  readonly port: number;
}

/** A probe's verdict. A failure is a value with a message, never an exception. */
export interface CheckResult {
  readonly ok: boolean;
  /** Grows context outward, e.g. `TCP connect to 10.2.0.11:8080: ECONNREFUSED`. */
  readonly message: string;
  readonly latencyMs: number;
}

/**
 * Checks one target once. Resolves within about `timeoutMs` (or promptly once `signal`
 * aborts) and never rejects. A probe may also offer a `direct` form, which the scheduler
 * prefers: thousands of checks a second then cost no promise, closure or signal each.
 */
export type Probe = ((target: CheckTarget, timeoutMs: number, signal?: AbortSignal) => Promise<CheckResult>) & {
  readonly direct?: DirectProbe;
};

/** Called exactly once per started attempt, never synchronously from `start` or `cancel`. */
export type ProbeDone<T> = (token: T, result: CheckResult, attempt: ProbeAttempt) => void;

/** An attempt in flight, as `DirectProbe.start` returned it; opaque to the caller. */
export interface ProbeAttempt {
  readonly target: CheckTarget;
}

/** The callback form of a probe: `done(token, result, attempt)` instead of a promise per check. */
export interface DirectProbe {
  start<T>(target: CheckTarget, timeoutMs: number, token: T, done: ProbeDone<T>): ProbeAttempt;
  /** Gives up on an attempt still in flight: its `done` then gets an `aborted` failure. */
  cancel(attempt: ProbeAttempt): void;
}

/** The health of a backend as the checks see it (SPEC §3 `health`). */
export type Health = 'up' | 'down' | 'unknown';
