// The soak's fault schedule: a pure function of a seed, so a failing run is replayed exactly by
// passing its seed again. Aggressive on purpose (the checker explains failures by fault windows),
// but shaped so the run still means something: one backend of each farm at least serves at
// every moment, one LB-level fault at a time (so one LB can always serve) and one Redis fault at
// a time, every fault ends, and operator commands go to a node that is not under a fault.

import { prng } from '../support/repo.js';
import type { FaultKind, OperatorAction } from './history.js';

/** A fault to inject at `at` (ms from the schedule's start) for `durationMs` (0: instantaneous). */
export interface FaultStep {
  readonly type: 'fault';
  readonly at: number;
  readonly fault: FaultKind;
  /** A backend name, an LB name, or 'redis'. */
  readonly target: string;
  readonly durationMs: number;
}

/** An operator command on `node` (agentctl). */
export interface OpStep {
  readonly type: 'op';
  readonly at: number;
  readonly node: string;
  readonly action: OperatorAction;
  readonly farm?: string;
  readonly backend?: string;
}

export type Step = FaultStep | OpStep;

export interface ScheduleOptions {
  readonly seed: number;
  readonly durationMs: number;
  readonly lbs: readonly string[];
  readonly farms: readonly { readonly name: string; readonly backends: readonly string[] }[];
  /** Mean time between two steps (faults and operator commands); exponential gaps. */
  readonly meanGapMs?: number;
  /** Share of steps that are operator commands. */
  readonly opShare?: number;
  readonly kinds?: readonly FaultKind[];
}

/**
 * Every fault the pair lab can inject. lb-silent needs the active-active topology (BGP/ECMP), where
 * an LB can stop announcing; a VRRP pair has no such fault, so it stays out of the pair soak.
 */
export const PAIR_FAULTS: readonly FaultKind[] = [
  'backend-kill', 'backend-blackhole', 'backend-slow',
  'agent-sigkill', 'agent-sigstop', 'agent-sighup-valid', 'agent-sighup-invalid',
  'keepalived-kill', 'redis-kill', 'redis-restart-empty', 'redis-partition',
  'vrrp-link-cut', 'rules-flush',
];

/**
 * Every fault the active-active lab can inject: no keepalived and no VRRP link there; instead an
 * LB made silent at the switch, and its BIRD killed (the agent's supervisor starts it again).
 */
export const AA_FAULTS: readonly FaultKind[] = [
  'backend-kill', 'backend-blackhole', 'backend-slow',
  'agent-sigkill', 'agent-sigstop', 'agent-sighup-valid', 'agent-sighup-invalid',
  'redis-kill', 'redis-restart-empty', 'redis-partition',
  'rules-flush', 'lb-silent', 'bird-kill',
];

export const BACKEND_FAULTS: ReadonlySet<FaultKind> = new Set(['backend-kill', 'backend-blackhole', 'backend-slow']);
export const REDIS_FAULTS: ReadonlySet<FaultKind> = new Set(['redis-kill', 'redis-restart-empty', 'redis-partition']);
/** Faults on one LB (or between them): one at a time, so the other LB can serve. */
export const LB_FAULTS: ReadonlySet<FaultKind> = new Set([
  'agent-sigkill', 'agent-sigstop', 'agent-sighup-valid', 'agent-sighup-invalid', 'keepalived-kill', 'vrrp-link-cut', 'rules-flush',
  'lb-silent', 'bird-kill',
]);

/** [min, max] duration of each fault's window, ms; for a point fault, how long it keeps its class busy. */
const DURATIONS: Readonly<Record<FaultKind, readonly [number, number]>> = {
  'backend-kill': [1500, 8000],
  'backend-blackhole': [1500, 8000],
  'backend-slow': [1500, 8000],
  'agent-sigkill': [500, 3000],
  'agent-sigstop': [500, 4000],
  'agent-sighup-valid': [0, 0],
  'agent-sighup-invalid': [0, 0],
  'keepalived-kill': [0, 0],
  'redis-kill': [2000, 10_000],
  'redis-restart-empty': [0, 0],
  'redis-partition': [2000, 10_000],
  'vrrp-link-cut': [1000, 5000],
  'rules-flush': [0, 0],
  'lb-silent': [1000, 5000],
  'bird-kill': [0, 0],
};
/** The longest window a fault of this kind may have (the checker and the tests rely on it). */
export const maxDurationMs = (kind: FaultKind): number => DURATIONS[kind][1];

/** After a window ends, its class stays busy this long: the agent restarts, re-checks, the VIP settles. */
const RECOVERY_MS: Readonly<Record<FaultKind, number>> = {
  'backend-kill': 1500, 'backend-blackhole': 1500, 'backend-slow': 1500,
  'agent-sigkill': 3000, 'agent-sigstop': 2500, 'agent-sighup-valid': 500, 'agent-sighup-invalid': 1500,
  'keepalived-kill': 3000, 'redis-kill': 2500, 'redis-restart-empty': 2500, 'redis-partition': 2500,
  'vrrp-link-cut': 2000, 'rules-flush': 1500, 'lb-silent': 3000, 'bird-kill': 3000,
};

export function makeSchedule(opts: ScheduleOptions): Step[] {
  const rand = prng(opts.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const between = (min: number, max: number): number => Math.round(min + rand() * (max - min));
  const meanGap = opts.meanGapMs ?? 1250;
  const opShare = opts.opShare ?? 0.2;
  const kinds = opts.kinds ?? PAIR_FAULTS;
  const farms = opts.farms;

  let lbBusy = { until: 0, target: '' };
  let redisBusyUntil = 0;
  const backendBusyUntil = new Map<string, number>();
  /** Backends an operator may have taken out (pessimistic: an enable during a Redis fault may be refused). */
  const adminOut = new Set<string>();
  const key = (farm: string, backend: string) => `${farm}/${backend}`;

  const outOf = (farm: { name: string; backends: readonly string[] }, at: number): number =>
    farm.backends.filter((b) => (backendBusyUntil.get(key(farm.name, b)) ?? 0) > at || adminOut.has(key(farm.name, b))).length;
  /** One backend of each farm at least stays in service. */
  const mayTakeOut = (farm: { name: string; backends: readonly string[] }, at: number): boolean =>
    outOf(farm, at) + 1 < farm.backends.length;

  const steps: Step[] = [];
  const faultAt = (at: number): FaultStep | undefined => {
    for (let attempt = 0; attempt < 30; attempt++) {
      const fault = pick(kinds);
      const durationMs = between(...DURATIONS[fault]);
      if (BACKEND_FAULTS.has(fault)) {
        const farm = pick(farms);
        const backend = pick(farm.backends);
        if ((backendBusyUntil.get(key(farm.name, backend)) ?? 0) > at || !mayTakeOut(farm, at)) continue;
        backendBusyUntil.set(key(farm.name, backend), at + durationMs + RECOVERY_MS[fault]);
        return { type: 'fault', at, fault, target: backend, durationMs };
      }
      if (REDIS_FAULTS.has(fault)) {
        if (redisBusyUntil > at) continue;
        redisBusyUntil = at + durationMs + RECOVERY_MS[fault];
        return { type: 'fault', at, fault, target: fault === 'redis-partition' ? pick(opts.lbs) : 'redis', durationMs };
      }
      if (lbBusy.until > at) continue;
      // vrrp-link-cut: the target LB stops hearing and sending adverts, so both claim MASTER.
      const target = pick(opts.lbs);
      lbBusy = { until: at + durationMs + RECOVERY_MS[fault], target };
      return { type: 'fault', at, fault, target, durationMs };
    }
    return undefined;
  };
  const opAt = (at: number): OpStep => {
    // A node under an LB fault (stopped, killed, reloading) would take a command late or lose it.
    const nodes = lbBusy.until > at ? opts.lbs.filter((lb) => lb !== lbBusy.target) : opts.lbs;
    const node = pick(nodes.length > 0 ? nodes : opts.lbs);
    const roll = rand();
    if (roll < 0.12) return { type: 'op', at, node, action: 'push-valid' };
    if (roll < 0.2) return { type: 'op', at, node, action: 'push-invalid' };
    const farm = pick(farms);
    const backend = pick(farm.backends);
    const k = key(farm.name, backend);
    const redisDown = redisBusyUntil > at;
    // Out backends come back more often than in ones go out, so the farm is mostly whole.
    if (adminOut.has(k) ? rand() < 0.8 : !mayTakeOut(farm, at)) {
      if (!redisDown) adminOut.delete(k);
      return { type: 'op', at, node, action: 'enable', farm: farm.name, backend };
    }
    adminOut.add(k);
    return { type: 'op', at, node, action: rand() < 0.5 ? 'drain' : 'maintenance', farm: farm.name, backend };
  };

  for (let at = Math.round(-Math.log(1 - rand()) * meanGap); at < opts.durationMs; at += Math.max(50, Math.round(-Math.log(1 - rand()) * meanGap))) {
    const step = rand() < opShare ? opAt(at) : faultAt(at) ?? opAt(at);
    steps.push(step);
  }
  return steps;
}

/** Faults by kind in a schedule. */
export function countFaults(steps: readonly Step[]): Partial<Record<FaultKind, number>> {
  const counts: Partial<Record<FaultKind, number>> = {};
  for (const s of steps) if (s.type === 'fault') counts[s.fault] = (counts[s.fault] ?? 0) + 1;
  return counts;
}
