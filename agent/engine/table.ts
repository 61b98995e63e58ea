// The engine's backend table: the config in use, each backend's mark and what is known of it
// (health, operator admin, last check). Decides nothing about the kernel; the reconciler plans
// and applies from it.

import type { AdminState, BackendConfig, Config, FarmConfig } from '../../config/schema.js';
import { assignMarks, markKey } from '../plan/marks.js';
import type { Health } from '../plan/plan.js';
import type { SavedBackend } from '../state/store.js';
import type { LastCheck } from './history.js';

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

/** Which farms a new config touches: the reconciler re-applies all three kinds. */
export interface ConfigChange {
  /** Added or redefined. */
  readonly changed: string[];
  readonly removed: string[];
  /** Unchanged in the config, but some of its backends' marks moved. */
  readonly moved: string[];
}

const initialHealth = (farm: FarmConfig): Health => (farm.check.type === 'none' ? 'up' : 'unknown');

export class BackendTable {
  config!: Config;
  marks = new Map<string, number>();
  readonly runtime = new Map<string, BackendRuntime>();
  /** The config's farms and backends by name (`farm/backend`): per-event lookups stay O(1). */
  private farmsByName = new Map<string, FarmConfig>();
  private backendsByKey = new Map<string, BackendConfig>();

  /** `now` stamps health changes (epoch ms: they are saved and shown). */
  constructor(private readonly now: () => number) {}

  private useConfig(config: Config): void {
    this.config = config;
    this.farmsByName = new Map(config.farms.map((f) => [f.name, f]));
    this.backendsByKey = new Map(config.farms.flatMap((f) => f.backends.map((b) => [markKey(f.name, b.name), b] as const)));
  }

  private assignMarks(config: Config, previous: ReadonlyMap<string, number>): Map<string, number> {
    return assignMarks(config, { min: config.dataplane.mark_min, max: config.dataplane.mark_max }, previous);
  }

  /** The first config, with the state saved before a restart and the marks used then. */
  load(config: Config, saved: ReadonlyMap<string, SavedBackend>, previousMarks: ReadonlyMap<string, number>): void {
    this.useConfig(config);
    this.marks = this.assignMarks(config, previousMarks);
    for (const farm of config.farms) {
      for (const b of farm.backends) {
        const s = saved.get(markKey(farm.name, b.name));
        this.runtime.set(markKey(farm.name, b.name), {
          health: farm.check.type === 'none' ? 'up' : s?.health ?? 'unknown',
          ...(s?.admin ? { adminOverride: s.admin } : {}),
          since: s?.since ?? this.now(),
        });
      }
    }
  }

  /** Swaps in a new validated config: backends added, dropped, and what each farm needs re-applied. */
  reload(config: Config): ConfigChange {
    const before = new Map(this.config.farms.map((f) => [f.name, JSON.stringify(f)]));
    const changed = config.farms.filter((f) => before.get(f.name) !== JSON.stringify(f)).map((f) => f.name);
    const oldBackends = this.backendsByKey;
    const oldMarks = this.marks;
    this.useConfig(config);
    const removed = [...before.keys()].filter((name) => !this.farmsByName.has(name));
    this.marks = this.assignMarks(config, oldMarks);
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
        if (!rt) this.runtime.set(key, { health: initialHealth(farm), since: this.now() });
        else if (old && old.admin !== b.admin) delete rt.adminOverride; // an edited config is newer than an old agentctl override
        if (farm.check.type === 'none') this.runtime.get(key)!.health = 'up';
      }
    }
    for (const key of this.runtime.keys()) if (!live.has(key)) this.runtime.delete(key);
    return { changed, removed, moved };
  }

  farm(name: string): FarmConfig | undefined {
    return this.farmsByName.get(name);
  }

  adminOf(farm: FarmConfig, backend: string): AdminState {
    const key = markKey(farm.name, backend);
    return this.runtime.get(key)?.adminOverride ?? this.backendsByKey.get(key)?.admin ?? 'enabled';
  }

  /** Whether a backend of `farm` that goes down has its connections cut. */
  cutsOnDown(farm: FarmConfig): boolean {
    return farm.cut_on_down ?? this.config.dataplane.cut_on_down;
  }

  /** Keeps a check result in the backend's one record; returns that record, or undefined for an unknown backend. */
  recordCheck(key: string, check: LastCheck): LastCheck | undefined {
    const rt = this.runtime.get(key);
    if (!rt) return undefined;
    // Copied into the one record: thousands of checks a second replacing an object each would
    // promote them all out of the young generation.
    const last = rt.lastCheck;
    if (last === undefined) {
      rt.lastCheck = { ok: check.ok, message: check.message, latencyMs: check.latencyMs, at: check.at };
    } else {
      last.ok = check.ok;
      last.message = check.message;
      last.latencyMs = check.latencyMs;
      last.at = check.at;
    }
    return rt.lastCheck;
  }

  /** Sets a known backend's health; the health before and when, or undefined when nothing changed. */
  setHealth(key: string, health: Health): { from: Health; at: number } | undefined {
    const rt = this.runtime.get(key);
    if (!rt || rt.health === health) return undefined;
    const from = rt.health;
    const at = this.now();
    rt.health = health;
    rt.since = at;
    if (health === 'up') rt.upSince = at;
    return { from, at };
  }

  /** Sets an operator override; the admin state before it. */
  setAdmin(farm: FarmConfig, backend: string, admin: AdminState): AdminState {
    const rt = this.runtime.get(markKey(farm.name, backend));
    if (!rt) throw new Error(`no backend ${farm.name}/${backend}`);
    const from = this.adminOf(farm, backend);
    rt.adminOverride = admin;
    return from;
  }

  /** What a restart needs: health, operator admin and since, per backend. */
  savedState(): Map<string, SavedBackend> {
    const out = new Map<string, SavedBackend>();
    for (const [key, rt] of this.runtime) out.set(key, { health: rt.health, ...(rt.adminOverride ? { admin: rt.adminOverride } : {}), since: rt.since });
    return out;
  }
}
