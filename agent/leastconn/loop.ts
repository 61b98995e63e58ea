// The re-weighting loop of leastconn and max_conns: every count_interval, reads from conntrack
// how many connections each backend of the farms that need it holds (by its mark), works out
// factors and fullness (load.ts) and has the engine re-plan the farms whose plan changes. A read
// of conntrack costs time in proportion to its entries, so the interval stretches to ten times
// the last read: reading never takes more than a tenth of the time.

import type { Clock, TimerHandle } from '../../checks/clock.js';
import type { Config, FarmConfig } from '../../config/schema.js';
import { ipFamily } from '../../config/net.js';
import type { ConnCounter } from '../apply/conntrack.js';
import type { Logger } from '../log.js';
import { markKey } from '../plan/marks.js';
import type { BackendView } from '../plan/plan.js';
import { needsCounts, nextLoad, type BackendLoad } from './load.js';

/** What the loop needs of the engine. */
export interface LoadTarget {
  readonly config: Config;
  readonly marks: ReadonlyMap<string, number>;
  replan(farm: string): void;
}

/** The loads as the plan reads them; filled by the loop. */
export class LoadBook {
  private readonly farms = new Map<string, Map<string, BackendLoad>>();

  view(farm: FarmConfig, backend: string): Pick<BackendView, 'loadFactor' | 'full'> {
    const load = this.farms.get(farm.name)?.get(backend);
    return load ? { loadFactor: load.factor, full: load.full } : {};
  }

  loads(farm: string): ReadonlyMap<string, BackendLoad> {
    return this.farms.get(farm) ?? new Map();
  }

  set(farm: string, loads: Map<string, BackendLoad>): void {
    this.farms.set(farm, loads);
  }

  /** Farms no longer configured, or no longer counted, lose their loads. */
  keep(names: ReadonlySet<string>): void {
    for (const name of [...this.farms.keys()]) if (!names.has(name)) this.farms.delete(name);
  }
}

export interface LoadLoopDeps {
  readonly target: LoadTarget;
  readonly book: LoadBook;
  readonly counter: ConnCounter;
  readonly clock: Clock;
  readonly logger: Logger;
}

export class LoadLoop {
  private timer: TimerHandle | undefined;
  private stopped = false;
  /** Reads that failed in a row: logged once per streak. */
  private failing = false;

  constructor(private readonly deps: LoadLoopDeps) {}

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  /** One pass over the farms that need counts; returns how long reading took (ms). */
  async tick(): Promise<number> {
    const { target, book, counter, clock, logger } = this.deps;
    const config = target.config;
    const farms = config.farms.filter(needsCounts);
    book.keep(new Set(farms.map((f) => f.name)));
    const started = clock.now();
    for (const farm of farms) {
      const counts = new Map<string, number>();
      const family = ipFamily(farm.vip);
      try {
        for (const b of farm.backends) {
          const mark = target.marks.get(markKey(farm.name, b.name));
          if (mark !== undefined) counts.set(b.name, await counter.count(mark, config.dataplane.mark_mask, family));
        }
        if (this.failing) logger.info('connection counts read again');
        this.failing = false;
      } catch (err) {
        if (!this.failing) logger.warn({ err: (err as Error).message }, 'reading connection counts failed; leastconn and max_conns keep their last state');
        this.failing = true;
        return clock.now() - started;
      }
      const { loads, changed } = nextLoad(farm, counts, book.loads(farm.name));
      book.set(farm.name, loads);
      if (changed) {
        logger.debug({ farm: farm.name, counts: Object.fromEntries(counts), factors: Object.fromEntries([...loads].map(([n, l]) => [n, Number(l.factor.toFixed(3))])), full: [...loads].filter(([, l]) => l.full).map(([n]) => n) }, 'backend loads changed');
        target.replan(farm.name);
      }
    }
    return clock.now() - started;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimer(() => {
      this.timer = undefined;
      void this.tick().then((took) => {
        const interval = this.deps.target.config.dataplane.count_interval;
        this.schedule(Math.max(interval, 10 * took));
      });
    }, delayMs);
    (this.timer as { unref?: () => void }).unref?.();
  }
}
