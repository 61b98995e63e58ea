// When a backend is probed next (pure): interval, or fastinter between states, or downinter while down.

import type { CheckConfig } from '../config/schema.js';
import { isTransitioning, type HealthState } from './hysteresis.js';

type Timing = Pick<CheckConfig, 'interval' | 'fastinter' | 'downinter'>;

/** Milliseconds from the start of one probe to the start of the next, as HAProxy's inter/fastinter/downinter. */
export function probeInterval(check: Timing, state: HealthState): number {
  if (isTransitioning(state)) return check.fastinter ?? check.interval;
  if (state.health === 'down') return check.downinter ?? check.interval;
  return check.interval;
}
