// Slow start (pure): a recovered backend's weight ramps up in steps instead of jumping to full.

export interface SlowstartWeight {
  /** Multiplies the backend's weight; in (0, 1]. */
  readonly factor: number;
  /** When the factor changes next (same clock as `now`); null once at full weight. */
  readonly nextStepAt: number | null;
}

export const DEFAULT_SLOWSTART_STEPS = 10;

/**
 * The weight factor at `now` for a backend that came up at `upSince` with a slow start of
 * `slowstartMs`. The ramp is cut into `steps` equal steps and each step rounds up (as HAProxy
 * rounds its ramp up), so a backend gets 1/steps of its weight as soon as it is up and its full
 * weight for the last step; the rules are rewritten only `steps` times, not continuously.
 */
export function slowstartWeight(upSince: number, slowstartMs: number | undefined, now: number,
  steps: number = DEFAULT_SLOWSTART_STEPS): SlowstartWeight {
  const full: SlowstartWeight = { factor: 1, nextStepAt: null };
  if (slowstartMs === undefined || slowstartMs <= 0 || steps < 1) return full;
  const n = Math.floor(steps);
  // A clock that went backwards puts us at the start of the ramp, not before it.
  const elapsed = Math.max(0, now - upSince);
  if (elapsed >= slowstartMs) return full;
  const step = Math.min(n - 1, Math.floor((elapsed * n) / slowstartMs));
  const factor = (step + 1) / n;
  if (step + 1 >= n) return { factor, nextStepAt: null };
  return { factor, nextStepAt: upSince + Math.ceil(((step + 1) * slowstartMs) / n) };
}
