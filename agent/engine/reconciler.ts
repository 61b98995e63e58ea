// The reconciler: farms marked dirty are re-planned together and applied in one transaction,
// coalesced over a few milliseconds; connections are cut only after the rules changed; a failed
// apply keeps its work and retries it later. A farm whose new plan gives the rules the kernel
// already holds is left out (backends found up at start change no rule: at 10k backends, rendering
// their farms again and again was most of the start-up's memory). The only code that drives the
// Netfilter.

import type { Clock, TimerHandle } from '../../checks/clock.js';
import type { FarmConfig } from '../../config/schema.js';
import type { ConnTracker } from '../apply/conntrack.js';
import type { Netfilter } from '../apply/netfilter.js';
import type { Logger } from '../log.js';
import { markKey } from '../plan/marks.js';
import { planFarm, sameRules, type BackendView, type DesiredState, type PlannedFarm } from '../plan/plan.js';
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

const renderedWith = (markMask: number, logGroup: number | undefined): string => `${markMask}/${logGroup}`;

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

export class Reconciler {
  readonly dataplane: DataplaneStatus = { inSync: false, lastError: null, lastApplyAt: null, lastApplyMs: null, applies: 0, applyErrors: 0 };
  private planned = new Map<string, PlannedFarm>();
  /** Each farm's plan as the last successful transaction applied it, and the mask and log group
   * it was rendered with; emptied by a failure (the kernel is then not known). */
  private readonly inKernel = new Map<string, PlannedFarm>();
  private inKernelWith: string | undefined;
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
    this.inKernel.delete(farm);
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

  /** The farms whose rules differ from what the kernel holds: re-planned ones whose rules changed,
   * added and removed ones; all of them when the mask or log group (in every rule) changed. */
  private replan(farms: readonly string[]): string[] {
    const { dataplane } = this.deps.table.config;
    const all = renderedWith(dataplane.mark_mask, dataplane.log_group) !== this.inKernelWith;
    const changed = new Set<string>();
    for (const name of farms) {
      const farm = this.deps.table.farm(name);
      const next = farm && this.planFor(farm);
      const had = this.inKernel.get(name);
      if (all || !next || !had || !sameRules(had, next)) changed.add(name);
      // The same rules: kept as the new plan, so the two maps share one plan per farm.
      else this.inKernel.set(name, next);
    }
    if (all) for (const farm of this.deps.table.config.farms) changed.add(farm.name);
    return [...changed];
  }

  private async apply(farms: readonly string[], cuts: readonly string[]): Promise<void> {
    const changed = this.replan(farms);
    // Unchanged rules (or a bare requestSync as a barrier): nothing to render, nothing to run, no
    // transaction counted; cuts and the state write still follow, as after an apply.
    if (changed.length === 0 && this.inKernelWith !== undefined) return this.settled(cuts);
    const at = this.deps.now();
    const dp = this.dataplane;
    const desired = this.desired();
    try {
      const result = await this.deps.netfilter.sync(desired, new Set(changed));
      this.inKernelWith = renderedWith(desired.markMask, desired.logGroup);
      const sent = new Map(desired.farms.map((farm) => [farm.name, farm]));
      for (const name of changed) {
        const plan = sent.get(name);
        if (plan && this.deps.table.farm(name)) this.inKernel.set(name, plan);
        else this.inKernel.delete(name);
      }
      Object.assign(dp, { inSync: true, lastError: null, lastApplyAt: at, lastApplyMs: result.durationMs, applies: dp.applies + 1 });
      if (result.changed) this.deps.logger.debug({ farms: changed, ms: Math.round(result.durationMs), rewritten: result.rewritten }, 'rules applied');
      this.deps.emit({ type: 'applied', result, farms: changed, at });
    } catch (err) {
      const message = (err as Error).message;
      // What the kernel holds is not known now: nothing is left out until an apply succeeds.
      this.inKernel.clear();
      this.inKernelWith = undefined;
      Object.assign(dp, { inSync: false, lastError: message, applyErrors: dp.applyErrors + 1 });
      this.deps.logger.error({ farms, err: message }, 'applying rules failed; the kernel keeps the previous rules');
      this.deps.emit({ type: 'apply-error', error: message, at });
      this.retryLater(farms, cuts);
      throw err;
    }
    await this.settled(cuts);
  }

  /** Cut only after the rules no longer send new connections to the backend; then the state is saved. */
  private async settled(cuts: readonly string[]): Promise<void> {
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
