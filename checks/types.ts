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
 * aborts) and never rejects.
 */
export type Probe = (target: CheckTarget, timeoutMs: number, signal?: AbortSignal) => Promise<CheckResult>;

/** The health of a backend as the checks see it (SPEC §3 `health`). */
export type Health = 'up' | 'down' | 'unknown';
