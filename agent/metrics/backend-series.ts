// The per-backend metric families (health, admin, share, weight, check failures, transitions,
// check duration), kept as plain numbers per backend and written straight into the exposition
// text. With prom-client these were one labelled series object each, reset and set again at
// every scrape and then copied into value objects before formatting: at 10k backends that is
// 270k series, over a second of blocked event loop and a 20 MB string per scrape. Here a check
// updates a few numbers in place, a scrape copies five values per backend from the status, and
// the text is produced one farm at a time so the server can stream it with backpressure.

import { ADMIN_STATES, type AdminState } from '../../config/schema.js';
import type { Health } from '../plan/plan.js';

export const CHECK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const HEALTHS: readonly Health[] = ['up', 'down', 'unknown'];

/** The status fields the gauges show (a subset of BackendStatus). */
export interface BackendGauges {
  readonly name: string;
  readonly health: Health;
  readonly admin: AdminState;
  readonly share: number;
  readonly in_chain: boolean;
  readonly effective_weight: number;
}

export interface FarmGauges {
  readonly name: string;
  readonly backends: readonly BackendGauges[];
}

type Values = Omit<BackendGauges, 'name'>;

interface Entry {
  /** `farm="…",backend="…"`, escaped once. */
  readonly labels: string;
  /** The status's values, copied (the status itself is not kept); absent until an update lists the backend. */
  gauges: { -readonly [K in keyof Values]: Values[K] } | undefined;
  /** The update generation that last listed the backend. */
  seen: number;
  failures: number;
  transitions: Map<string, number> | undefined;
  /** Observations per bucket (not cumulative), the last slot for those above every bucket. */
  buckets: Float64Array | undefined;
  sum: number;
  count: number;
}

/** 1 while `health` is up; 0 when down or not known yet (ha_agent_backend_health tells those apart). */
export function upValue(health: Health): number {
  switch (health) {
    case 'up': return 1;
    case 'down':
    case 'unknown': return 0;
    default: {
      const never: never = health;
      throw new Error(`unknown health ${String(never)}`);
    }
  }
}

/** As prom-client escapes label values and formats numbers, so the text reads the same. */
export const escapeLabel = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const num = (v: number): string => (Number.isNaN(v) ? 'Nan' : Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : '-Inf');
const LE = [...CHECK_BUCKETS.map(String), '+Inf'];

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  /** Appends the entry's lines to `out`. */
  readonly lines: (e: Entry, out: string[]) => void;
}

/** A gauge line per entry that the status lists. */
const gauge = (name: string, help: string, value: (g: Values) => number): Family => ({
  name, help, type: 'gauge',
  lines: (e, out) => { if (e.gauges) out.push(`${name}{${e.labels}} ${num(value(e.gauges))}`); },
});

/** A `state` family: one line per state, 1 on the current one. */
const stateGauge = <S extends string>(name: string, help: string, states: readonly S[], current: (g: Values) => S): Family => ({
  name, help, type: 'gauge',
  lines: (e, out) => {
    if (!e.gauges) return;
    const now = current(e.gauges);
    for (const s of states) out.push(`${name}{${e.labels},state="${s}"} ${s === now ? 1 : 0}`);
  },
});

const DURATION = 'ha_agent_check_duration_seconds';

const FAMILIES: readonly Family[] = [
  stateGauge('ha_agent_backend_health', 'Backend health: 1 for the current state (up, down, or unknown before the first verdict)', HEALTHS, (g) => g.health),
  gauge('ha_agent_backend_up', 'Backend health: 1 up; 0 down or not known yet (see ha_agent_backend_health)', (g) => upValue(g.health)),
  stateGauge('ha_agent_backend_admin_state', 'Operator admin state: 1 for the current state', ADMIN_STATES, (g) => g.admin),
  gauge('ha_agent_backend_share_ratio', 'Fraction of new connections the backend receives now (0 when not in the chain)', (g) => g.share),
  gauge('ha_agent_backend_in_chain', '1 when the backend is in its farm\'s MARK chain', (g) => (g.in_chain ? 1 : 0)),
  gauge('ha_agent_backend_effective_weight', 'Weight used now (lower while slow start ramps)', (g) => g.effective_weight),
  {
    // Every listed backend has the series, even before its first failure.
    name: 'ha_agent_check_failures_total', help: 'Health checks that failed', type: 'counter',
    lines: (e, out) => { if (e.gauges || e.failures > 0) out.push(`ha_agent_check_failures_total{${e.labels}} ${e.failures}`); },
  },
  {
    name: 'ha_agent_backend_transitions_total', help: 'Health transitions, by new state', type: 'counter',
    lines: (e, out) => { for (const [to, n] of e.transitions ?? []) out.push(`ha_agent_backend_transitions_total{${e.labels},to="${escapeLabel(to)}"} ${n}`); },
  },
  {
    name: DURATION, help: 'Health check duration', type: 'histogram',
    lines: (e, out) => {
      if (!e.buckets) return;
      let cumulative = 0;
      for (let i = 0; i < LE.length; i++) {
        cumulative += e.buckets[i]!;
        out.push(`${DURATION}_bucket{${e.labels},le="${LE[i]}"} ${cumulative}`);
      }
      out.push(`${DURATION}_sum{${e.labels}} ${num(e.sum)}`, `${DURATION}_count{${e.labels}} ${e.count}`);
    },
  },
];

/** The names of the families this class writes (none of them may be registered in prom-client too). */
export const BACKEND_FAMILIES: readonly string[] = FAMILIES.map((f) => f.name);

export class BackendSeries {
  private readonly farms = new Map<string, Map<string, Entry>>();
  private generation = 0;

  observeCheck(farm: string, backend: string, seconds: number, ok: boolean): void {
    const e = this.entry(farm, backend);
    if (!ok) e.failures += 1;
    const buckets = (e.buckets ??= new Float64Array(LE.length));
    let i = 0;
    while (i < CHECK_BUCKETS.length && seconds > CHECK_BUCKETS[i]!) i += 1;
    buckets[i] = buckets[i]! + 1;
    e.sum += seconds;
    e.count += 1;
  }

  transition(farm: string, backend: string, to: string): void {
    const e = this.entry(farm, backend);
    const counts = (e.transitions ??= new Map());
    counts.set(to, (counts.get(to) ?? 0) + 1);
  }

  /**
   * Takes the gauges' values from the status. Backends it no longer lists (removed by a reload)
   * lose all their series instead of reporting stale values forever.
   */
  update(farms: readonly FarmGauges[]): void {
    const gen = ++this.generation;
    for (const farm of farms) {
      for (const b of farm.backends) {
        const e = this.entry(farm.name, b.name);
        const g = (e.gauges ??= { health: b.health, admin: b.admin, share: 0, in_chain: false, effective_weight: 0 });
        g.health = b.health;
        g.admin = b.admin;
        g.share = b.share;
        g.in_chain = b.in_chain;
        g.effective_weight = b.effective_weight;
        e.seen = gen;
      }
    }
    for (const [name, backends] of this.farms) {
      for (const [backend, e] of backends) if (e.seen !== gen) backends.delete(backend);
      if (backends.size === 0) this.farms.delete(name);
    }
  }

  /** The exposition text: per family its header (after a blank line, as prom-client separates families), then one chunk per farm. */
  *chunks(): Generator<string> {
    for (const family of FAMILIES) {
      yield `\n# HELP ${family.name} ${family.help}\n# TYPE ${family.name} ${family.type}\n`;
      for (const backends of this.farms.values()) {
        const out: string[] = [];
        for (const e of backends.values()) family.lines(e, out);
        if (out.length > 0) yield `${out.join('\n')}\n`;
      }
    }
  }

  /** Backends with series (for tests and the size of a scrape). */
  get size(): number {
    let n = 0;
    for (const backends of this.farms.values()) n += backends.size;
    return n;
  }

  private entry(farm: string, backend: string): Entry {
    let backends = this.farms.get(farm);
    if (!backends) this.farms.set(farm, (backends = new Map()));
    let e = backends.get(backend);
    if (!e) {
      e = { labels: `farm="${escapeLabel(farm)}",backend="${escapeLabel(backend)}"`, gauges: undefined, seen: 0, failures: 0, transitions: undefined, buckets: undefined, sum: 0, count: 0 };
      backends.set(backend, e);
    }
    return e;
  }
}
