// The kernel's over-limit counters (farm limits, backend max_conns) as Prometheus counters, read
// when scraped. Both metrics share one reading, cached briefly, so a scrape runs at most one
// kernel read per address family, and scrapes close together run none. The kernel's counters
// restart at zero when their rule is rewritten; the agent carries what they had counted, so each
// series only grows while the agent runs (a reset Prometheus sees is then the agent's restart).

import { Counter, type Registry } from 'prom-client';
import { NO_COUNTS, type LimitCounts } from '../apply/limit-counters.js';
import type { Logger } from '../log.js';

export const FARM_LIMITED = 'ha_agent_farm_limited_connections_total';
export const BACKEND_FULL = 'ha_agent_backend_max_conns_refused_total';

/** Scrapes closer together than this share one kernel read. */
export const DEFAULT_CACHE_MS = 1000;

export interface LimitMetricsOptions {
  /** Reads the kernel now (KernelLimitCounters over the planned farms). */
  readonly read: () => Promise<LimitCounts>;
  readonly now?: () => number;
  readonly cacheMs?: number;
  readonly logger?: Pick<Logger, 'warn' | 'info'>;
}

/**
 * Totals that survive the kernel's counter restarting: a value below the last one read means the
 * rule was rewritten and counts again from zero, so what it had is kept as a base. Series no
 * longer read (farm, limit or backend removed) are forgotten. Counts between the last read and
 * the rewrite are not seen.
 */
export class CarriedTotals {
  private readonly series = new Map<string, { base: number; last: number }>();

  advance(reading: ReadonlyMap<string, number>): Map<string, number> {
    const totals = new Map<string, number>();
    for (const [key, value] of reading) {
      const seen = this.series.get(key) ?? { base: 0, last: 0 };
      const next = value < seen.last ? { base: seen.base + seen.last, last: value } : { base: seen.base, last: value };
      this.series.set(key, next);
      totals.set(key, next.base + next.last);
    }
    for (const key of [...this.series.keys()]) if (!reading.has(key)) this.series.delete(key);
    return totals;
  }
}

const farmKey = (c: LimitCounts['farms'][number]): string => JSON.stringify(['farm', c.farm, c.limit, c.action]);
const backendKey = (c: LimitCounts['backends'][number]): string => JSON.stringify(['backend', c.farm, c.backend]);

/** `counts` with each value replaced by its carried total. */
export function carry(totals: CarriedTotals, counts: LimitCounts): LimitCounts {
  const reading = new Map<string, number>([
    ...counts.farms.map((c) => [farmKey(c), c.refused] as const),
    ...counts.backends.map((c) => [backendKey(c), c.refused] as const),
  ]);
  const carried = totals.advance(reading);
  return {
    farms: counts.farms.map((c) => ({ ...c, refused: carried.get(farmKey(c)) ?? c.refused })),
    backends: counts.backends.map((c) => ({ ...c, refused: carried.get(backendKey(c)) ?? c.refused })),
  };
}

/** Registers both metrics on `registry`; their values come from `options.read` at scrape time. */
export function registerLimitMetrics(registry: Registry, options: LimitMetricsOptions): void {
  const reading = cachedReading(options);
  new Counter({
    name: FARM_LIMITED,
    help: 'New connections a farm limit refused (dropped or rejected), counted by the kernel: new-connection packets over new_per_second (and its burst) or established',
    labelNames: ['farm', 'limit', 'action'] as const,
    registers: [registry],
    async collect() {
      const counts = await reading();
      this.reset();
      for (const c of counts.farms) this.inc({ farm: c.farm, limit: c.limit, action: c.action }, c.refused);
    },
  });
  new Counter({
    name: BACKEND_FULL,
    help: 'New connections refused because the backend they were sent to held max_conns connections, counted by the kernel',
    labelNames: ['farm', 'backend'] as const,
    registers: [registry],
    async collect() {
      const counts = await reading();
      this.reset();
      for (const c of counts.backends) this.inc({ farm: c.farm, backend: c.backend }, c.refused);
    },
  });
}

/**
 * One read shared by the callers in flight and reused for `cacheMs`. A failed read keeps the last
 * totals (a counter never jumps back) and is logged once until a read works again.
 */
function cachedReading(options: LimitMetricsOptions): () => Promise<LimitCounts> {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? DEFAULT_CACHE_MS;
  const totals = new CarriedTotals();
  let last: LimitCounts = NO_COUNTS;
  let readAt: number | undefined;
  let inFlight: Promise<LimitCounts> | undefined;
  let failing = false;
  return () => {
    if (inFlight) return inFlight;
    if (readAt !== undefined && now() - readAt < cacheMs) return Promise.resolve(last);
    inFlight = options.read().then((counts) => {
      last = carry(totals, counts);
      if (failing) options.logger?.info('over-limit counters read again');
      failing = false;
      return last;
    }, (err: Error) => {
      if (!failing) options.logger?.warn({ err: err.message }, 'cannot read the over-limit counters; the metrics keep their last values');
      failing = true;
      return last;
    }).finally(() => {
      readAt = now();
      inFlight = undefined;
    });
    return inFlight;
  };
}
