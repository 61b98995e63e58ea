// The engine: health transitions, admin changes and reloads go into the backend table, and the
// farms they touch into the reconciler, which applies them together. A thin owner of four parts:
// table.ts (what is known), reconciler.ts (plan, apply, retry, cuts), saver.ts (state on disk),
// history.ts (events). Time comes in as a Clock for timers and `now` for the stamps.

import { systemClock, type Clock } from '../../checks/clock.js';
import type { AdminState, Config, FarmConfig } from '../../config/schema.js';
import type { ConnTracker } from '../apply/conntrack.js';
import type { Netfilter } from '../apply/netfilter.js';
import type { Logger } from '../log.js';
import { markKey } from '../plan/marks.js';
import type { DesiredState, Health } from '../plan/plan.js';
import type { SavedBackend } from '../state/store.js';
import { EventHistory, type EngineEvent, type HistoryEvent, type LastCheck } from './history.js';
import { Reconciler, type DataplaneStatus, type ReconcilerDeps } from './reconciler.js';
import { StateSaver, type Persist } from './saver.js';
import { BackendTable, type BackendRuntime } from './table.js';

export type { BackendRuntime } from './table.js';
export type { DataplaneStatus } from './reconciler.js';
export { isHistoryEvent, type EngineEvent, type HistoryEvent, type LastCheck } from './history.js';

export interface EngineDeps {
  readonly netfilter: Netfilter;
  readonly conntrack: ConnTracker;
  readonly logger: Logger;
  /** Epoch ms: stamps transitions, saved state and applies (shown as dates). */
  readonly now: () => number;
  /** Runs the coalescing window, retries and the state write delay (default: the system clock). */
  readonly clock?: Clock;
  /** Saves health/admin and marks after each apply. */
  readonly persist: Persist;
  /** Weight factor for slow start; 1 when not ramping. */
  readonly weightFactor?: (farm: FarmConfig, runtime: BackendRuntime, now: number) => number;
  /** leastconn factor and max_conns fullness of a backend, from connection counts. */
  readonly load?: ReconcilerDeps['load'];
  readonly coalesceMs?: number;
  readonly retryMs?: number;
  /** Changes within this window share one state write (default 20 ms). */
  readonly persistDelayMs?: number;
}

export class Engine {
  private readonly table: BackendTable;
  private readonly reconciler: Reconciler;
  private readonly saver: StateSaver;
  private readonly history = new EventHistory();

  constructor(private readonly deps: EngineDeps) {
    const clock = deps.clock ?? systemClock;
    this.table = new BackendTable(deps.now);
    this.saver = new StateSaver({
      save: () => deps.persist(this.table.savedState(), this.table.marks), clock, logger: deps.logger, delayMs: deps.persistDelayMs,
    });
    this.reconciler = new Reconciler({
      table: this.table, netfilter: deps.netfilter, conntrack: deps.conntrack, logger: deps.logger, clock, now: deps.now,
      emit: (event) => this.history.emit(event), applied: () => this.saver.soon(),
      weightFactor: deps.weightFactor, load: deps.load, coalesceMs: deps.coalesceMs, retryMs: deps.retryMs,
    });
  }

  get config(): Config {
    return this.table.config;
  }

  get marks(): ReadonlyMap<string, number> {
    return this.table.marks;
  }

  /** One entry per backend of the running config (reload prunes the rest). */
  get runtime(): ReadonlyMap<string, BackendRuntime> {
    return this.table.runtime;
  }

  get dataplane(): Readonly<DataplaneStatus> {
    return this.reconciler.dataplane;
  }

  /** Adopts the kernel's rules, then converges to the config with the saved state applied. */
  async start(config: Config, saved: ReadonlyMap<string, SavedBackend>, previousMarks: ReadonlyMap<string, number>): Promise<void> {
    this.table.load(config, saved, previousMarks);
    await this.deps.netfilter.adopt();
    await this.requestSync(config.farms.map((f) => f.name));
  }

  on(listener: (event: EngineEvent) => void): () => void {
    return this.history.on(listener);
  }

  /** The last `n` transitions, admin changes and apply errors, oldest first. */
  recentEvents(n?: number): HistoryEvent[] {
    return this.history.recent(n);
  }

  farmConfig(name: string): FarmConfig | undefined {
    return this.table.farm(name);
  }

  adminOf(farm: FarmConfig, backend: string): AdminState {
    return this.table.adminOf(farm, backend);
  }

  recordCheck(farm: string, backend: string, check: LastCheck): void {
    const result = this.table.recordCheck(markKey(farm, backend), check);
    if (result) this.history.emit({ type: 'check', farm, backend, result });
  }

  /** A health transition decided by the checks (hysteresis already applied). */
  setHealth(farm: string, backend: string, health: Health, reason: string): void {
    const key = markKey(farm, backend);
    const farmConfig = this.table.farm(farm);
    const change = farmConfig && this.table.setHealth(key, health);
    if (!farmConfig || !change) return;
    const { from, at } = change;
    this.deps.logger.info({ farm, backend, from, to: health, reason }, `backend ${farm}/${backend} ${from} -> ${health}: ${reason}`);
    this.history.emit({ type: 'transition', farm, backend, from, to: health, reason, at });
    if (health === 'down' && this.table.cutsOnDown(farmConfig)) this.reconciler.cutAfterSync(key);
    void this.requestSync([farm]).catch(() => undefined);
  }

  /** An operator's admin change; resolves once the rules reflect it. */
  async setAdmin(farm: string, backend: string, admin: AdminState): Promise<void> {
    const farmConfig = this.table.farm(farm);
    if (!farmConfig) throw new Error(`no backend ${farm}/${backend}`);
    const from = this.table.setAdmin(farmConfig, backend, admin);
    if (from !== admin) {
      this.deps.logger.info({ farm, backend, from, to: admin }, `backend ${farm}/${backend} admin ${from} -> ${admin}`);
      this.history.emit({ type: 'admin', farm, backend, from, to: admin, at: this.deps.now() });
    }
    if (admin === 'maintenance') this.reconciler.cutAfterSync(markKey(farm, backend));
    await this.requestSync([farm]);
  }

  /** Swaps in a new validated config; only farms whose definition changed are re-applied. */
  async reload(config: Config): Promise<string[]> {
    const { changed, removed, moved } = this.table.reload(config);
    for (const name of removed) this.reconciler.forget(name);
    await this.requestSync([...changed, ...removed, ...moved]);
    return [...changed, ...removed];
  }

  /** Marks farms dirty and resolves after the transaction that includes them. */
  requestSync(farms: readonly string[]): Promise<void> {
    return this.reconciler.requestSync(farms);
  }

  /** Re-plans one farm (slow-start steps); applied with the next flush. */
  replan(farm: string): void {
    void this.requestSync([farm]).catch(() => undefined);
  }

  desired(): DesiredState {
    return this.reconciler.desired();
  }

  /** Runs `fn` with the dataplane to itself (see Reconciler.exclusive). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.reconciler.exclusive(fn);
  }

  /** What a look at the kernel found (the drift check); the next apply says again. */
  setInSync(inSync: boolean): void {
    this.reconciler.setInSync(inSync);
  }

  /** Resolves once every state change so far is on disk. */
  flushPersist(): Promise<void> {
    return this.saver.flush();
  }

  savedState(): Map<string, SavedBackend> {
    return this.table.savedState();
  }

  /** Finishes the transaction in flight, starts none after it, writes the state, tells no one more. */
  async stop(): Promise<void> {
    await this.reconciler.stop();
    await this.saver.stop();
    this.history.stop();
  }
}
