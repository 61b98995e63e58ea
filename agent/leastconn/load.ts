// Connection counts -> what the plan needs of each backend: its leastconn factor (lower the more
// connections it holds for its weight) and whether it is full (max_conns). With hysteresis, so
// shares settle instead of chasing every count: counts are smoothed, a factor moves only when
// some backend's share would move by SHARE_STEP, and a full backend takes connections again only
// once it has fallen REFILL below its cap. Pure.

import type { FarmConfig } from '../../config/schema.js';

export interface BackendLoad {
  /** Connections held, smoothed over reads. */
  readonly smoothed: number;
  /** In the plan now: the weight is scaled by it (leastconn; 1 otherwise). */
  readonly factor: number;
  readonly full: boolean;
}

/** Smoothing of counts between reads (weight of the newest read). */
export const SMOOTHING = 0.5;
/** New factors go to the kernel only when some backend's share of new connections moves this much. */
export const SHARE_STEP = 0.05;
/** A full backend is back in the choice once it holds at most this fraction of max_conns. */
export const REFILL = 0.9;

/** Whether the farm needs connection counts at all. */
export const needsCounts = (farm: FarmConfig): boolean => farm.algorithm === 'leastconn' || farm.backends.some((b) => b.max_conns > 0);

/**
 * Factors from smoothed counts: f_i = (1 + min load) / (1 + load_i) with load = connections per
 * unit of weight, so the least loaded backend keeps its full weight and one holding k times more
 * per weight gets about 1/k of it.
 */
export function factors(farm: FarmConfig, smoothed: ReadonlyMap<string, number>): Map<string, number> {
  const loads = farm.backends.map((b) => (smoothed.get(b.name) ?? 0) / b.weight);
  const least = Math.min(...loads);
  return new Map(farm.backends.map((b, i) => [b.name, (1 + least) / (1 + loads[i]!)]));
}

/** Shares of new connections these factors give (over every backend: a bound, not the plan). */
function shares(farm: FarmConfig, factor: (name: string) => number): number[] {
  const w = farm.backends.map((b) => b.weight * factor(b.name));
  const total = w.reduce((a, b) => a + b, 0) || 1;
  return w.map((x) => x / total);
}

/**
 * The next load of every backend of `farm` from this read's counts (absent: not read, kept as it
 * was). `changed` says whether the plan must be redone.
 */
export function nextLoad(
  farm: FarmConfig, counts: ReadonlyMap<string, number>, previous: ReadonlyMap<string, BackendLoad>,
): { loads: Map<string, BackendLoad>; changed: boolean } {
  const smoothed = new Map<string, number>();
  for (const b of farm.backends) {
    const before = previous.get(b.name);
    const count = counts.get(b.name);
    smoothed.set(b.name, count === undefined ? before?.smoothed ?? 0 : before ? before.smoothed + SMOOTHING * (count - before.smoothed) : count);
  }
  let changed = false;
  let next = new Map(farm.backends.map((b) => [b.name, previous.get(b.name)?.factor ?? 1]));
  if (farm.algorithm === 'leastconn') {
    const wanted = factors(farm, smoothed);
    const now = shares(farm, (name) => next.get(name)!);
    const then = shares(farm, (name) => wanted.get(name)!);
    if (now.some((s, i) => Math.abs(s - then[i]!) >= SHARE_STEP)) {
      next = wanted;
      changed = true;
    }
  }
  const loads = new Map<string, BackendLoad>();
  for (const b of farm.backends) {
    const wasFull = previous.get(b.name)?.full ?? false;
    // Fullness follows the raw count: a cap is a bound, not a trend.
    const count = counts.get(b.name);
    let full = wasFull;
    if (b.max_conns === 0) full = false;
    else if (count !== undefined) full = wasFull ? count > Math.floor(b.max_conns * REFILL) : count >= b.max_conns;
    if (full !== wasFull) changed = true;
    loads.set(b.name, { smoothed: smoothed.get(b.name)!, factor: farm.algorithm === 'leastconn' ? next.get(b.name)! : 1, full });
  }
  return { loads, changed };
}
