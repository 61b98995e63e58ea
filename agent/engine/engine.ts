// The reconcile loop: health transitions, admin changes and reloads mark farms dirty; dirty farms
// are re-planned together and applied in one transaction, coalesced over a few milliseconds.

import type { AdminState, BackendConfig, Config, FarmConfig } from '../../config/schema.js';
import type { Logger } from '../log.js';
import { assignMarks, markKey } from '../plan/marks.js';
import { planFarm, type BackendView, type DesiredState, type Health, type PlannedFarm } from '../plan/plan.js';
import type { ConnTracker } from '../apply/conntrack.js';
import type { Netfilter, SyncResult } from '../apply/netfilter.js';
import type { SavedBackend } from '../state/store.js';

export interface LastCheck {
  readonly ok: boolean;
  readonly message: string;
  readonly latencyMs: number;
  readonly at: number;
}

export interface BackendRuntime {
  health: Health;
  /** Set by an operator (agentctl); the config's admin applies when absent. */
  adminOverride?: AdminState;
  since: number;
  /** For slow start: when the backend last came up. */
  upSince?: number;
  /** Updated in place by each check; copy it to keep it. */
  lastCheck?: { -readonly [K in keyof LastCheck]: LastCheck[K] };
}

export interface EngineDeps {
  readonly netfilter: Netfilter;
  readonly conntrack: ConnTracker;
  readonly logger: Logger;
  readonly now: () => number;
  /** Saves health/admin and marks after each apply. */
  readonly persist: (backends: ReadonlyMap<string, SavedBackend>, marks: ReadonlyMap<string, number>) => Promise<void>;
  /** Weight factor for slow start; 1 when not ramping. */
  readonly weightFactor?: (farm: FarmConfig, runtime: BackendRuntime, now: number) => number;
  readonly coalesceMs?: number;
  readonly retryMs?: number;
  /** Changes within this window share one state write (default 20 ms). */
  readonly persistDelayMs?: number;
}

export interface DataplaneStatus {
  inSync: boolean;
  lastError: string | null;
  lastApplyAt: number | null;
  lastApplyMs: number | null;
  applies: number;
  applyErrors: number;
}

export type EngineEvent =
  | { type: 'transition'; farm: string; backend: string; from: Health; to: Health; reason: string; at: number }
  | { type: 'admin'; farm: string; backend: string; from: AdminState; to: AdminState; at: number }
  | { type: 'applied'; result: SyncResult; farms: readonly string[]; at: number }
  | { type: 'apply-error'; error: string; at: number }
  /** `result` is the backend's last-check record, updated in place by the next check: read it at once. */
  | { type: 'check'; farm: string; backend: string; result: LastCheck };

/** The events `agentctl events` shows; applies and single check results are metrics, not history. */
export type HistoryEvent = Extract<EngineEvent, { type: 'transition' | 'admin' | 'apply-error' }>;
export const isHistoryEvent = (event: { type: string }): event is HistoryEvent =>
  event.type === 'transition' || event.type === 'admin' || event.type === 'apply-error';
const HISTORY_SIZE = 1000;

export class Engine {
  config!: Config;
  marks = new Map<string, number>();
  readonly runtime = new Map<string, BackendRuntime>();
  private planned = new Map<string, PlannedFarm>();
  private readonly dirty = new Set<string>();
  private readonly pendingCuts = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private readonly history: HistoryEvent[] = [];
  readonly dataplane: DataplaneStatus = { inSync: false, lastError: null, lastApplyAt: null, lastApplyMs: null, applies: 0, applyErrors: 0 };

  /** The config's farms and backends by name (`farm/backend`): per-event lookups stay O(1). */
  private farmsByName = new Map<string, FarmConfig>();
  private backendsByKey = new Map<string, BackendConfig>();

  constructor(private readonly deps: EngineDeps) {}

  private useConfig(config: Config): void {
    this.config = config;
    this.farmsByName = new Map(config.farms.map((f) => [f.name, f]));
    this.backendsByKey = new Map(config.farms.flatMap((f) => f.backends.map((b) => [markKey(f.name, b.name), b] as const)));
  }

  /** Adopts the kernel's rules, then converges to the config with the saved state applied. */
  async start(config: Config, saved: ReadonlyMap<string, SavedBackend>, previousMarks: ReadonlyMap<string, number>): Promise<void> {
    this.useConfig(config);
    this.marks = assignMarks(config, { min: config.dataplane.mark_min, max: config.dataplane.mark_max }, previousMarks);
    for (const farm of config.farms) {
      for (const b of farm.backends) {
        const s = saved.get(markKey(farm.name, b.name));
        this.runtime.set(markKey(farm.name, b.name), {
          health: farm.check.type === 'none' ? 'up' : s?.health ?? 'unknown',
          ...(s?.admin ? { adminOverride: s.admin } : {}),
          since: s?.since ?? this.deps.now(),
        });
      }
    }
    await this.deps.netfilter.adopt();
    await this.requestSync(config.farms.map((f) => f.name));
  }

  on(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  farmConfig(name: string): FarmConfig | undefined {
    return this.farmsByName.get(name);
  }

  adminOf(farm: FarmConfig, backend: string): AdminState {
    const key = markKey(farm.name, backend);
    return this.runtime.get(key)?.adminOverride ?? this.backendsByKey.get(key)?.admin ?? 'enabled';
  }

  recordCheck(farm: string, backend: string, check: LastCheck): void {
    const rt = this.runtime.get(markKey(farm, backend));
    if (!rt) return;
    // Copied into the backend's one record: thousands of checks a second replacing an object
    // each would promote them all out of the young generation (issue 3, check capacity).
    const last = rt.lastCheck;
    if (last === undefined) {
      rt.lastCheck = { ok: check.ok, message: check.message, latencyMs: check.latencyMs, at: check.at };
    } else {
      last.ok = check.ok;
      last.message = check.message;
      last.latencyMs = check.latencyMs;
      last.at = check.at;
    }
    this.emit({ type: 'check', farm, backend, result: rt.lastCheck! });
  }

  /** A health transition decided by the checks (hysteresis already applied). */
  setHealth(farm: string, backend: string, health: Health, reason: string): void {
    const key = markKey(farm, backend);
    const rt = this.runtime.get(key);
    const farmConfig = this.farmConfig(farm);
    if (!rt || !farmConfig || rt.health === health) return;
    const from = rt.health;
    const at = this.deps.now();
    rt.health = health;
    rt.since = at;
    if (health === 'up') rt.upSince = at;
    this.deps.logger.info({ farm, backend, from, to: health, reason }, `backend ${farm}/${backend} ${from} -> ${health}: ${reason}`);
    this.emit({ type: 'transition', farm, backend, from, to: health, reason, at });
    if (health === 'down' && (farmConfig.cut_on_down ?? this.config.dataplane.cut_on_down)) this.pendingCuts.add(key);
    void this.requestSync([farm]).catch(() => undefined);
  }

  /** An operator's admin change; resolves once the rules reflect it. */
  async setAdmin(farm: string, backend: string, admin: AdminState): Promise<void> {
    const key = markKey(farm, backend);
    const rt = this.runtime.get(key);
    const farmConfig = this.farmConfig(farm);
    if (!rt || !farmConfig) throw new Error(`no backend ${farm}/${backend}`);
    const from = this.adminOf(farmConfig, backend);
    rt.adminOverride = admin;
    if (from !== admin) {
      this.deps.logger.info({ farm, backend, from, to: admin }, `backend ${farm}/${backend} admin ${from} -> ${admin}`);
      this.emit({ type: 'admin', farm, backend, from, to: admin, at: this.deps.now() });
    }
    if (admin === 'maintenance') this.pendingCuts.add(key);
    await this.requestSync([farm]);
  }

  /** Swaps in a new validated config; only farms whose definition changed are re-applied. */
  async reload(config: Config): Promise<string[]> {
    const before = new Map(this.config.farms.map((f) => [f.name, JSON.stringify(f)]));
    const changed = config.farms.filter((f) => before.get(f.name) !== JSON.stringify(f)).map((f) => f.name);
    const oldBackends = this.backendsByKey;
    const oldMarks = this.marks;
    this.useConfig(config);
    const removed = [...before.keys()].filter((name) => !this.farmsByName.has(name));
    this.marks = assignMarks(config, { min: config.dataplane.mark_min, max: config.dataplane.mark_max }, oldMarks);
    // A farm whose definition is unchanged still moves when its marks do (a pinned mark taken by
    // another farm, a new mark range): its rules in the kernel carry the old marks.
    const changedSet = new Set(changed);
    const moved = config.farms.filter((f) => !changedSet.has(f.name) && f.backends.some((b) => {
      const key = markKey(f.name, b.name);
      return oldMarks.get(key) !== this.marks.get(key);
    })).map((f) => f.name);
    const live = new Set<string>();
    for (const farm of config.farms) {
      for (const b of farm.backends) {
        const key = markKey(farm.name, b.name);
        live.add(key);
        const rt = this.runtime.get(key);
        const old = oldBackends.get(key);
        if (!rt) this.runtime.set(key, { health: farm.check.type === 'none' ? 'up' : 'unknown', since: this.deps.now() });
        else if (old && old.admin !== b.admin) delete rt.adminOverride; // an edited config is newer than an old agentctl override
        if (farm.check.type === 'none') this.runtime.get(key)!.health = 'up';
      }
    }
    for (const key of this.runtime.keys()) if (!live.has(key)) this.runtime.delete(key);
    for (const name of removed) this.planned.delete(name);
    await this.requestSync([...changed, ...removed, ...moved]);
    return [...changed, ...removed];
  }

  /** Marks farms dirty and resolves after the transaction that includes them. */
  requestSync(farms: readonly string[]): Promise<void> {
    for (const farm of farms) this.dirty.add(farm);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.timer && !this.running) this.timer = setTimeout(() => this.flush(), this.deps.coalesceMs ?? 5);
    return done;
  }

  desired(): DesiredState {
    return { markMask: this.config.dataplane.mark_mask, farms: this.config.farms.map((f) => this.planned.get(f.name) ?? this.planFor(f)) };
  }

  /** Re-plans one farm now (slow-start steps); applied with the next flush. */
  replan(farm: string): void {
    void this.requestSync([farm]).catch(() => undefined);
  }

  private planFor(farm: FarmConfig): PlannedFarm {
    const now = this.deps.now();
    const planned = planFarm(farm, this.marks, (f, b): Partial<BackendView> | undefined => {
      const rt = this.runtime.get(markKey(f, b));
      if (!rt) return undefined;
      // Without an override planFarm takes the backend's configured admin state.
      return { health: rt.health, ...(rt.adminOverride ? { admin: rt.adminOverride } : {}), weightFactor: this.deps.weightFactor?.(farm, rt, now) ?? 1 };
    });
    this.planned.set(farm.name, planned);
    return planned;
  }

  /**
   * Runs `fn` with the dataplane to itself: after the transaction in flight, and before the next
   * one (the drift check reads the kernel and may rewrite it; an apply must not interleave).
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running) await this.running;
    const task = fn();
    this.occupy(task.then(() => undefined, () => undefined));
    return task;
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
      if (!this.timer && (this.dirty.size > 0 || this.waiters.length > 0)) this.timer = setTimeout(() => this.flush(), this.deps.coalesceMs ?? 5);
    });
  }

  private async apply(farms: readonly string[], cuts: readonly string[]): Promise<void> {
    for (const name of farms) {
      const farm = this.farmConfig(name);
      if (farm) this.planFor(farm);
    }
    const at = this.deps.now();
    try {
      const result = await this.deps.netfilter.sync(this.desired(), new Set(farms));
      Object.assign(this.dataplane, { inSync: true, lastError: null, lastApplyAt: at, lastApplyMs: result.durationMs, applies: this.dataplane.applies + 1 });
      if (result.changed) this.deps.logger.debug({ farms, ms: Math.round(result.durationMs), rewritten: result.rewritten }, 'rules applied');
      this.emit({ type: 'applied', result, farms, at });
    } catch (err) {
      const message = (err as Error).message;
      Object.assign(this.dataplane, { inSync: false, lastError: message, applyErrors: this.dataplane.applyErrors + 1 });
      this.deps.logger.error({ farms, err: message }, 'applying rules failed; the kernel keeps the previous rules');
      this.emit({ type: 'apply-error', error: message, at });
      this.retryLater(farms, cuts);
      throw err;
    }
    // Cut only after the rules no longer send new connections to the backend.
    for (const key of cuts) await this.cut(key);
    this.persistSoon();
  }

  private persisting: Promise<void> | undefined;
  private persistTimer: NodeJS.Timeout | undefined;
  private persistAgain = false;

  /**
   * Saves state off the apply path: changes within a short window share one write (saving
   * thousands of backends is O(n)), one write at a time, the latest state always written last.
   */
  private persistSoon(): void {
    if (this.persisting) {
      this.persistAgain = true;
      return;
    }
    if (this.persistTimer) return;
    this.persistTimer = setTimeout(() => this.persistNow(), this.deps.persistDelayMs ?? 20);
  }

  private persistNow(): void {
    clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    this.persisting = this.deps.persist(this.savedState(), this.marks)
      .catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'could not persist state'))
      .finally(() => {
        this.persisting = undefined;
        if (this.persistAgain) {
          this.persistAgain = false;
          this.persistSoon();
        }
      });
  }

  /** Resolves once every state change so far is on disk (used on stop). */
  async flushPersist(): Promise<void> {
    for (let i = 0; i < 10 && (this.persisting || this.persistAgain || this.persistTimer); i++) {
      if (this.persistTimer && !this.persisting) this.persistNow();
      await this.persisting;
    }
  }

  private retryLater(farms: readonly string[], cuts: readonly string[]): void {
    setTimeout(() => {
      for (const key of cuts) this.pendingCuts.add(key);
      void this.requestSync(farms).catch(() => undefined);
    }, this.deps.retryMs ?? 1000).unref();
  }

  private async cut(key: string): Promise<void> {
    const mark = this.marks.get(key);
    if (mark === undefined) return;
    try {
      const n = await this.deps.conntrack.cut(mark, this.config.dataplane.mark_mask);
      this.deps.logger.info({ backend: key, connections: n }, `cut ${n} connections of ${key}`);
    } catch (err) {
      this.deps.logger.warn({ backend: key, err: (err as Error).message }, 'conntrack cut failed');
    }
  }

  savedState(): Map<string, SavedBackend> {
    const out = new Map<string, SavedBackend>();
    for (const [key, rt] of this.runtime) out.set(key, { health: rt.health, ...(rt.adminOverride ? { admin: rt.adminOverride } : {}), since: rt.since });
    return out;
  }

  /** The last `n` transitions, admin changes and apply errors, oldest first. */
  recentEvents(n = HISTORY_SIZE): HistoryEvent[] {
    return n <= 0 ? [] : this.history.slice(-n);
  }

  private emit(event: EngineEvent): void {
    if (isHistoryEvent(event)) {
      this.history.push(event);
      if (this.history.length > HISTORY_SIZE) this.history.shift();
    }
    for (const listener of this.listeners) listener(event);
  }
}
