// Runs every backend's probe on its interval from ONE timer over a min-heap of due probes.

import type { CheckConfig } from '../config/schema.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { MinHeap } from './heap.js';
import { markKey } from '../agent/plan/marks.js';
import { advance, initialState, resetRun, type HealthState, type MutableHealthState, type Transition } from './hysteresis.js';
import { probeInterval } from './interval.js';
import type { CheckResult, CheckTarget, Health, Probe, ProbeAttempt } from './types.js';

export interface ScheduledCheck {
  readonly target: CheckTarget;
  readonly check: CheckConfig;
  /** The persisted health to start from; unknown when absent. */
  readonly initial?: Health;
}

export interface SchedulerOptions {
  /**
   * Builds the probe for a check config (checks/probe.ts `probeFor` in the agent, fakes in tests).
   * Called once per check object: the backends of a farm share theirs, and so their probe.
   */
  readonly probeFor: (check: CheckConfig) => Probe;
  readonly clock?: Clock;
  /** Probes in flight at most; the rest wait their turn in due order. Default 512. */
  readonly maxInFlight?: number;
  /** Probes due within this many ms run in the same tick, so dense schedules arm few timers. Default 10. */
  readonly resolutionMs?: number;
  /** In [0, 1); spreads first probes over the first interval. */
  readonly random?: () => number;
  /** `state` is the backend's live state, updated in place by the next check: copy it to keep it. */
  readonly onResult?: (target: CheckTarget, result: CheckResult, state: HealthState) => void;
  readonly onTransition?: (target: CheckTarget, transition: Transition, result: CheckResult) => void;
  /** A callback threw; the scheduler carries on. Default: a process warning. */
  readonly onError?: (err: unknown) => void;
}

interface Entry {
  readonly key: string;
  target: CheckTarget;
  check: CheckConfig;
  probe: Probe;
  /** Updated in place by each result (no allocation per check). */
  readonly state: MutableHealthState;
  paused: boolean;
  /** Bumped on update/pause/remove: a probe started under another generation is discarded. */
  gen: number;
  at: number;
  heapIndex: number;
  startedAt: number;
  controller: AbortController | undefined;
  /** The direct probe's attempt in flight, if any. */
  attempt: ProbeAttempt | undefined;
}

/** How targets are named to the scheduler: the engine's `farm/backend` key. */
export function targetKey(target: Pick<CheckTarget, 'farm' | 'backend'>): string {
  return markKey(target.farm, target.backend);
}

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly heap = new MinHeap<Entry>();
  /** Keyed by the config object: a reload brings new objects, hence new probes. */
  private readonly probes = new WeakMap<CheckConfig, Probe>();
  private readonly clock: Clock;
  private readonly maxInFlight: number;
  private readonly resolutionMs: number;
  private readonly random: () => number;
  private running = 0;
  private timer: TimerHandle | undefined;
  private armedAt = Infinity;
  private stopped: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  constructor(private readonly options: SchedulerOptions) {
    this.clock = options.clock ?? systemClock;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 512);
    this.resolutionMs = Math.max(0, options.resolutionMs ?? 10);
    this.random = options.random ?? Math.random;
  }

  get size(): number {
    return this.entries.size;
  }

  get inFlight(): number {
    return this.running;
  }

  state(key: string): HealthState | undefined {
    return this.entries.get(key)?.state;
  }

  /** Adds a target, or updates it when its key is already scheduled. */
  add(item: ScheduledCheck): void {
    if (this.stopped) return;
    const key = targetKey(item.target);
    const existing = this.entries.get(key);
    if (existing) return this.update(existing, item);
    const entry: Entry = {
      key, target: item.target, check: item.check, probe: this.probeFor(item.check),
      state: initialState(item.initial), paused: false, gen: 0, at: 0, heapIndex: -1, startedAt: 0, controller: undefined, attempt: undefined,
    };
    this.entries.set(key, entry);
    this.scheduleSpread(entry);
  }

  /** Reload: the scheduled set becomes exactly `items`; health of kept targets carries over. */
  replaceAll(items: readonly ScheduledCheck[]): void {
    const keep = new Set(items.map((i) => targetKey(i.target)));
    for (const key of [...this.entries.keys()]) if (!keep.has(key)) this.remove(key);
    for (const item of items) this.add(item);
  }

  remove(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.cancel(entry);
    this.entries.delete(key);
    return true;
  }

  /** Maintenance: no probes, no results, health frozen until resume. */
  pause(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry || entry.paused) return false;
    this.cancel(entry);
    entry.paused = true;
    return true;
  }

  resume(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry || !entry.paused || this.stopped) return false;
    entry.paused = false;
    // Results from before the pause say nothing about the backend now.
    Object.assign(entry.state, resetRun(entry.state));
    this.scheduleSpread(entry);
    return true;
  }

  /** Stops the timer and aborts probes in flight; resolves once they have all settled. */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.stopped = this.running === 0 ? Promise.resolve() : new Promise((resolve) => {
      this.drained = resolve;
    });
    this.disarm();
    this.heap.clear();
    for (const entry of this.entries.values()) this.cancel(entry);
    return this.stopped;
  }

  private update(entry: Entry, item: ScheduledCheck): void {
    const same = JSON.stringify([entry.target, entry.check]) === JSON.stringify([item.target, item.check]);
    if (same) return;
    this.cancel(entry);
    entry.target = item.target;
    entry.check = item.check;
    entry.probe = this.probeFor(item.check);
    if (!entry.paused) this.scheduleSpread(entry);
  }

  private probeFor(check: CheckConfig): Probe {
    let probe = this.probes.get(check);
    if (probe === undefined) this.probes.set(check, (probe = this.options.probeFor(check)));
    return probe;
  }

  /** Takes the entry off the queue and aborts its probe in flight, whose result is then dropped. */
  private cancel(entry: Entry): void {
    entry.gen++;
    this.heap.remove(entry);
    entry.controller?.abort();
    entry.controller = undefined;
    if (entry.attempt !== undefined) entry.probe.direct?.cancel(entry.attempt);
    entry.attempt = undefined;
  }

  /** A random point in the coming interval, so targets added together are not probed together. */
  private scheduleSpread(entry: Entry): void {
    const now = this.clock.now();
    entry.at = now + this.random() * probeInterval(entry.check, entry.state);
    this.heap.push(entry);
    this.arm(now);
  }

  private pump(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const horizon = now + this.resolutionMs;
    while (this.running < this.maxInFlight) {
      const next = this.heap.peek();
      if (next === undefined || next.at > horizon) break;
      this.heap.pop();
      this.start(next, now);
    }
    this.arm(now);
  }

  private start(entry: Entry, now: number): void {
    const gen = entry.gen;
    entry.startedAt = now;
    this.running++;
    const direct = entry.probe.direct;
    if (direct !== undefined) {
      // No promise, closure or signal per probe: the entry is the token, one callback serves all.
      try {
        entry.attempt = direct.start(entry.target, entry.check.timeout, entry, this.onDirect);
      } catch (err) {
        queueMicrotask(() => this.finish(entry, gen, { ok: false, message: `probe crashed: ${String(err)}`, latencyMs: 0 }));
      }
      return;
    }
    entry.controller ??= new AbortController();
    let pending: Promise<CheckResult>;
    try {
      pending = entry.probe(entry.target, entry.check.timeout, entry.controller.signal);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (result) => this.finish(entry, gen, result),
      (err: unknown) => this.finish(entry, gen, { ok: false, message: `probe crashed: ${String(err)}`, latencyMs: 0 }),
    );
  }

  private readonly onDirect = (entry: Entry, result: CheckResult, attempt: ProbeAttempt): void => {
    // A cancelled attempt (no longer the entry's) still frees its slot, its result unused.
    if (entry.attempt !== attempt) return this.finish(entry, -1, result);
    entry.attempt = undefined;
    this.finish(entry, entry.gen, result);
  };

  private finish(entry: Entry, gen: number, result: CheckResult): void {
    this.running--;
    if (this.stopped) {
      if (this.running === 0) this.drained?.();
      return;
    }
    if (entry.gen === gen) {
      const transition = advance(entry.state, result, entry.check);
      const { onResult, onTransition } = this.options;
      try {
        onResult?.(entry.target, result, entry.state);
      } catch (err) {
        this.callbackThrew(err);
      }
      if (transition) {
        try {
          onTransition?.(entry.target, transition, result);
        } catch (err) {
          this.callbackThrew(err);
        }
      }
      // The callbacks may have paused, removed or updated this very entry.
      if (entry.gen === gen) {
        entry.at = Math.max(this.clock.now(), entry.startedAt + probeInterval(entry.check, entry.state));
        this.heap.push(entry);
      }
    }
    this.pump();
  }

  private callbackThrew(err: unknown): void {
    if (this.options.onError) this.options.onError(err);
    else process.emitWarning(`health check callback threw: ${String(err)}`);
  }

  /** Keeps the one timer set for the earliest due probe; not at all while every slot is busy. */
  private arm(now: number): void {
    const next = this.heap.peek();
    if (this.stopped || next === undefined || this.running >= this.maxInFlight) return this.disarm();
    const at = Math.max(next.at, now);
    // A timer already set to fire no later will re-arm when it fires.
    if (this.timer !== undefined && this.armedAt <= at) return;
    this.disarm();
    this.armedAt = at;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      this.armedAt = Infinity;
      this.pump();
    }, at - now);
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
  }
}
