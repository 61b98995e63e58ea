// The reconciler: farms marked dirty are re-planned together and applied in one transaction,
// coalesced over a few milliseconds; connections are cut only after the rules changed; a failed
// apply keeps its work and retries it later. The only code that drives the Netfilter.

import type { Clock, TimerHandle } from '../../checks/clock.js';
import type { FarmConfig } from '../../config/schema.js';
import type { ConnTracker } from '../apply/conntrack.js';
import type { Netfilter } from '../apply/netfilter.js';
import type { Logger } from '../log.js';
import { markKey } from '../plan/marks.js';
import { planFarm, type BackendView, type DesiredState, type PlannedFarm } from '../plan/plan.js';
import type { EngineEvent } from './history.js';
import type { BackendRuntime, BackendTable } from './table.js';

export interface DataplaneStatus {
  inSync: boolean;
  lastError: string | null;
  lastApplyAt: number | null;
  lastApplyMs: number | null;
  applies: number;
  applyErrors: number;
}

export interface ReconcilerDeps {
  readonly table: BackendTable;
  readonly netfilter: Netfilter;
  readonly conntrack: ConnTracker;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Epoch ms for the times an apply is stamped with. */
  readonly now: () => number;
  readonly emit: (event: EngineEvent) => void;
  /** After each successful apply and its cuts (the state is saved then). */
  readonly applied: () => void;
  /** Weight factor for slow start; 1 when not ramping. */
  readonly weightFactor?: ((farm: FarmConfig, runtime: BackendRuntime, now: number) => number) | undefined;
  /** leastconn factor and max_conns fullness, from connection counts (agent/leastconn). */
  readonly load?: ((farm: FarmConfig, backend: string) => Pick<BackendView, 'loadFactor' | 'full'>) | undefined;
  readonly coalesceMs?: number | undefined;
  readonly retryMs?: number | undefined;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export class Reconciler {
  readonly dataplane: DataplaneStatus = { inSync: false, lastError: null, lastApplyAt: null, lastApplyMs: null, applies: 0, applyErrors: 0 };
  private planned = new Map<string, PlannedFarm>();
  private readonly dirty = new Set<string>();
  private readonly pendingCuts = new Set<string>();
  private timer: TimerHandle | undefined;
  private readonly retries = new Set<TimerHandle>();
  private running: Promise<void> | undefined;
  private waiters: Waiter[] = [];
  private stopped = false;

  constructor(private readonly deps: ReconcilerDeps) {}

  /** Marks farms dirty and resolves after the transaction that includes them. */
  requestSync(farms: readonly string[]): Promise<void> {
    for (const farm of farms) this.dirty.add(farm);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.timer === undefined && !this.running) this.arm();
    return done;
  }

  /** Cuts the backend's connections after the next transaction (down with cut_on_down, maintenance). */
  cutAfterSync(key: string): void {
    this.pendingCuts.add(key);
  }

  /** A farm left the config: its plan goes with it. */
  forget(farm: string): void {
    this.planned.delete(farm);
  }

  desired(): DesiredState {
    const { config } = this.deps.table;
    return { markMask: config.dataplane.mark_mask, logGroup: config.dataplane.log_group, farms: config.farms.map((f) => this.planned.get(f.name) ?? this.planFor(f)) };
  }

  /** What a look at the kernel found (the drift check); the next apply says again. */
  setInSync(inSync: boolean): void {
    this.dataplane.inSync = inSync;
  }

  /**
   * Runs `fn` with the dataplane to itself: after the transaction in flight, and before the next
   * one (the drift check reads the kernel and may rewrite it; an apply must not interleave).
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running) await this.running;
    // Stopping: a drift repair must not start while the agent writes its state and exits.
    if (this.stopped) throw new Error('the agent is stopping');
    const task = fn();
    this.occupy(task.then(() => undefined, () => undefined));
    return task;
  }

  /**
   * The transaction in flight finishes; none starts after it, and no retry: what waited is
   * refused (the kernel keeps its rules, and the saved state brings the rest back on start).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer);
    this.timer = undefined;
    for (const retry of this.retries) this.deps.clock.clearTimer(retry);
    this.retries.clear();
    // Whatever held the dataplane when stop began, and anything that slipped in after it.
    while (this.running) await this.running;
    this.refuseWaiters();
  }

  private arm(): void {
    if (this.stopped) this.refuseWaiters();
    else this.timer = this.deps.clock.setTimer(() => this.flush(), this.deps.coalesceMs ?? 5);
  }

  private refuseWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    this.dirty.clear();
    this.pendingCuts.clear();
    for (const w of waiters) w.reject(new Error('the agent is stopping: the rules were not changed'));
  }

  private planFor(farm: FarmConfig): PlannedFarm {
    const { table, weightFactor } = this.deps;
    const now = this.deps.now();
    const planned = planFarm(farm, table.marks, (f, b): Partial<BackendView> | undefined => {
      const rt = table.runtime.get(markKey(f, b));
      if (!rt) return undefined;
      // Without an override planFarm takes the backend's configured admin state.
      return { health: rt.health, ...(rt.adminOverride ? { admin: rt.adminOverride } : {}), weightFactor: weightFactor?.(farm, rt, now) ?? 1, ...this.deps.load?.(farm, b) };
    });
    this.planned.set(farm.name, planned);
    return planned;
  }

  private flush(): void {
    this.timer = undefined;
    // Whatever holds the dataplane flushes again when it is done.
    if (this.running) return;
    const farms = [...this.dirty];
    const waiters = this.waiters;
    const cuts = [...this.pendingCuts];
    this.dirty.clear();
    this.pendingCuts.clear();
    this.waiters = [];
    this.occupy(this.apply(farms, cuts).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: Error) => waiters.forEach((w) => w.reject(err)),
    ));
  }

  /** `task` (which never rejects) holds the dataplane; changes that waited are flushed after it. */
  private occupy(task: Promise<void>): void {
    this.running = task.finally(() => {
      this.running = undefined;
      if (this.timer === undefined && (this.dirty.size > 0 || this.waiters.length > 0)) this.arm();
    });
  }

  private async apply(farms: readonly string[], cuts: readonly string[]): Promise<void> {
    for (const name of farms) {
      const farm = this.deps.table.farm(name);
      if (farm) this.planFor(farm);
    }
    const at = this.deps.now();
    const dp = this.dataplane;
    try {
      const result = await this.deps.netfilter.sync(this.desired(), new Set(farms));
      Object.assign(dp, { inSync: true, lastError: null, lastApplyAt: at, lastApplyMs: result.durationMs, applies: dp.applies + 1 });
      if (result.changed) this.deps.logger.debug({ farms, ms: Math.round(result.durationMs), rewritten: result.rewritten }, 'rules applied');
      this.deps.emit({ type: 'applied', result, farms, at });
    } catch (err) {
      const message = (err as Error).message;
      Object.assign(dp, { inSync: false, lastError: message, applyErrors: dp.applyErrors + 1 });
      this.deps.logger.error({ farms, err: message }, 'applying rules failed; the kernel keeps the previous rules');
      this.deps.emit({ type: 'apply-error', error: message, at });
      this.retryLater(farms, cuts);
      throw err;
    }
    // Cut only after the rules no longer send new connections to the backend.
    for (const key of cuts) await this.cut(key);
    this.deps.applied();
  }

  private retryLater(farms: readonly string[], cuts: readonly string[]): void {
    if (this.stopped) return;
    const retry = this.deps.clock.setTimer(() => {
      this.retries.delete(retry);
      for (const key of cuts) this.pendingCuts.add(key);
      void this.requestSync(farms).catch(() => undefined);
    }, this.deps.retryMs ?? 1000);
    // A retry alone does not keep the process alive (a real timer has unref; a fake one not).
    (retry as { unref?: () => void }).unref?.();
    this.retries.add(retry);
  }

  private async cut(key: string): Promise<void> {
    const mark = this.deps.table.marks.get(key);
    if (mark === undefined) return;
    try {
      const n = await this.deps.conntrack.cut(mark, this.deps.table.config.dataplane.mark_mask);
      this.deps.logger.info({ backend: key, connections: n }, `cut ${n} connections of ${key}`);
    } catch (err) {
      this.deps.logger.warn({ backend: key, err: (err as Error).message }, 'conntrack cut failed');
    }
  }
}
