// The rise/fall state machine (pure): consecutive results move a backend between up and down.

import type { CheckResult, Health } from './types.js';

export interface HealthState {
  readonly health: Health;
  /** Length of the current run of successes (0 after a failure). */
  readonly consecutiveOk: number;
  /** Length of the current run of failures (0 after a success). */
  readonly consecutiveFail: number;
}

export interface Transition {
  readonly from: Health;
  readonly to: Health;
  /** `3 consecutive failures: TCP connect to 10.2.0.11:8080: ECONNREFUSED`, `2 consecutive successes`. */
  readonly reason: string;
}

export interface Thresholds {
  readonly rise: number;
  readonly fall: number;
}

export interface Observed {
  readonly state: HealthState;
  readonly transition?: Transition;
}

/** The state to start from: the persisted health when the caller knows it, else unknown. A new object each call. */
export function initialState(health: Health = 'unknown'): HealthState {
  return { health, consecutiveOk: 0, consecutiveFail: 0 };
}

/** A backend's state as the scheduler keeps it: one object per backend, updated in place. */
export interface MutableHealthState {
  health: Health;
  consecutiveOk: number;
  consecutiveFail: number;
}

/**
 * Folds one result into the state. From unknown, as from down, it takes `rise` successes to
 * go up; from unknown, as from up, `fall` failures to go down: a restart never declares a
 * backend on one lucky or unlucky probe.
 */
export function observe(state: HealthState, result: CheckResult, thresholds: Thresholds): Observed {
  const next: MutableHealthState = { health: state.health, consecutiveOk: state.consecutiveOk, consecutiveFail: state.consecutiveFail };
  const transition = advance(next, result, thresholds);
  return transition ? { state: next, transition } : { state: next };
}

/**
 * `observe` in place, for the scheduler: thousands of checks a second then allocate nothing
 * that outlives the check (a new state per check would live until the next one, long enough
 * to be promoted out of V8's young generation). Returns the transition, if any.
 */
export function advance(state: MutableHealthState, result: CheckResult, thresholds: Thresholds): Transition | undefined {
  const from = state.health;
  if (result.ok) {
    state.consecutiveOk++;
    state.consecutiveFail = 0;
    if (from === 'up' || state.consecutiveOk < thresholds.rise) return undefined;
    state.health = 'up';
    return { from, to: 'up', reason: plural(state.consecutiveOk, 'consecutive success', 'consecutive successes') };
  }
  state.consecutiveOk = 0;
  state.consecutiveFail++;
  if (from === 'down' || state.consecutiveFail < thresholds.fall) return undefined;
  state.health = 'down';
  return { from, to: 'down', reason: `${plural(state.consecutiveFail, 'consecutive failure', 'consecutive failures')}: ${result.message}` };
}

/**
 * True while results point away from the current health (a failure while up, a success while
 * down, anything while unknown): the backend is between states and worth probing faster.
 */
export function isTransitioning(state: HealthState): boolean {
  switch (state.health) {
    case 'up':
      return state.consecutiveFail > 0;
    case 'down':
      return state.consecutiveOk > 0;
    case 'unknown':
      return state.consecutiveOk > 0 || state.consecutiveFail > 0;
    default:
      return unreachable(state.health);
  }
}

/** Forgets the current run (after a pause the old results say nothing about now). */
export function resetRun(state: HealthState): HealthState {
  return { health: state.health, consecutiveOk: 0, consecutiveFail: 0 };
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function unreachable(value: never): never {
  throw new Error(`unknown health ${String(value)}`);
}
