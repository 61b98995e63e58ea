// The notify hooks at work: each hook has its own bounded queue and runs its events one at a time,
// in order, so a slow or failing hook delays only itself. `notify` only queues and returns: the
// engine, which calls it from its event emitter, never waits for a hook.

import type { NotifyHookConfig } from '../../config/notify.js';
import type { Runner } from '../apply/runner.js';
import type { Logger } from '../log.js';
import { deliverFor, hookTarget, type Deliver } from './deliver.js';
import type { NotifyEvent } from './event.js';

/**
 * Events waiting per hook. Full, the OLDEST is dropped: the latest events say what holds now,
 * which is what a pager or an automation acts on; a burst (a switch dying takes every backend
 * down at once) loses its oldest steps, never the last state.
 */
export const QUEUE_LIMIT = 100;

/** How long stop() lets a delivery in flight finish before it is aborted (its process group killed). */
export const STOP_GRACE_MS = 2000;

export interface HookStats {
  /** The hook's place in `notify`. */
  readonly index: number;
  readonly kind: 'exec' | 'webhook';
  /** The program, or the webhook's origin (never its path or query, which may hold a token). */
  readonly target: string;
  readonly queued: number;
  readonly delivered: number;
  readonly failed: number;
  readonly dropped: number;
}

/** Counters since start; the totals include hooks a reload removed. */
export interface NotifyStats {
  readonly delivered: number;
  readonly failed: number;
  readonly dropped: number;
  readonly queued: number;
  readonly hooks: readonly HookStats[];
}

class HookWorker {
  private readonly queue: NotifyEvent[] = [];
  private draining: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private stopped = false;
  /** Dropped since the queue was last empty: logged once when dropping starts and once when it ends. */
  private burstDrops = 0;
  delivered = 0;
  failed = 0;
  dropped = 0;
  readonly kind: 'exec' | 'webhook';
  readonly target: string;

  constructor(readonly index: number, public hook: NotifyHookConfig, private readonly deliver: Deliver, private readonly logger: Logger, private readonly limit: number) {
    ({ kind: this.kind, target: this.target } = hookTarget(hook));
  }

  get queued(): number {
    return this.queue.length;
  }

  offer(event: NotifyEvent): void {
    if (this.stopped || !this.hook.on.includes(event.event)) return;
    if (this.queue.length >= this.limit) {
      this.queue.shift();
      this.dropped++;
      if (this.burstDrops++ === 0) this.logger.warn(this.fields(), `notify hook ${this.index} is behind: its queue of ${this.limit} is full, dropping the oldest events`);
    }
    this.queue.push(event);
    this.draining ??= this.drain();
  }

  private fields(): Record<string, unknown> {
    return { hook: this.index, kind: this.kind, target: this.target };
  }

  private async drain(): Promise<void> {
    // After the caller's turn: offer() returns before any delivery starts.
    await Promise.resolve();
    for (let event = this.queue.shift(); event && !this.stopped; event = this.queue.shift()) {
      const error = await this.deliver(event, this.abort.signal).catch((err: Error) => err.message);
      if (error === undefined) this.delivered++;
      else {
        this.failed++;
        this.logger.warn({ ...this.fields(), event: event.event, farm: event.farm || undefined, backend: event.backend || undefined, error }, `notify hook ${this.index} failed: ${error}`);
      }
      if (this.queue.length === 0 && this.burstDrops > 0) {
        this.logger.warn({ ...this.fields(), dropped: this.burstDrops }, `notify hook ${this.index} caught up after dropping ${this.burstDrops} events`);
        this.burstDrops = 0;
      }
    }
    this.draining = undefined;
  }

  /** No more events; the queued ones are dropped, the one in flight gets `graceMs` before it is aborted. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.dropped += this.queue.length;
    this.queue.length = 0;
    if (!this.draining) return;
    const timer = setTimeout(() => this.abort.abort(), graceMs);
    await this.draining;
    clearTimeout(timer);
  }

  /** Replaced by a reload: takes no new events, and delivers what it has. */
  retire(): Promise<void> {
    this.hook = { ...this.hook, on: [] };
    return this.draining ?? Promise.resolve();
  }
}

export interface NotifyDeps {
  readonly runner: Runner;
  readonly logger: Logger;
  readonly queueLimit?: number;
  /** Tests replace how an event is delivered; by default, per the hook's config. */
  readonly deliverFor?: (hook: NotifyHookConfig, runner: Runner) => Deliver;
}

export class NotifyHooks {
  private workers: HookWorker[] = [];
  /** What removed hooks had counted, so the totals never go down (they are Prometheus counters). */
  private retired = { delivered: 0, failed: 0, dropped: 0 };
  private readonly retiring = new Set<HookWorker>();

  constructor(private readonly deps: NotifyDeps) {}

  /** The hooks of a (re)loaded config; an unchanged hook keeps its queue and counters. */
  use(hooks: readonly NotifyHookConfig[]): void {
    const old = new Map(this.workers.map((w) => [JSON.stringify(w.hook), w]));
    this.workers = hooks.map((hook, index) => {
      const key = JSON.stringify(hook);
      const kept = old.get(key);
      old.delete(key);
      if (kept && kept.index === index) return kept;
      if (kept) old.set(key, kept);
      return new HookWorker(index, hook, (this.deps.deliverFor ?? deliverFor)(hook, this.deps.runner), this.deps.logger, this.deps.queueLimit ?? QUEUE_LIMIT);
    });
    for (const worker of old.values()) {
      this.retiring.add(worker);
      void worker.retire().then(() => {
        this.retiring.delete(worker);
        this.retired = {
          delivered: this.retired.delivered + worker.delivered,
          failed: this.retired.failed + worker.failed,
          dropped: this.retired.dropped + worker.dropped,
        };
      });
    }
  }

  /** Queues `event` for every hook that listens to it; returns at once. */
  notify(event: NotifyEvent): void {
    for (const worker of this.workers) worker.offer(event);
  }

  stats(): NotifyStats {
    const all = [...this.workers, ...this.retiring];
    const sum = (pick: (w: HookWorker) => number) => all.reduce((n, w) => n + pick(w), 0);
    return {
      delivered: this.retired.delivered + sum((w) => w.delivered),
      failed: this.retired.failed + sum((w) => w.failed),
      dropped: this.retired.dropped + sum((w) => w.dropped),
      queued: sum((w) => w.queued),
      hooks: this.workers.map((w) => ({ index: w.index, kind: w.kind, target: w.target, queued: w.queued, delivered: w.delivered, failed: w.failed, dropped: w.dropped })),
    };
  }

  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    await Promise.all([...this.workers, ...this.retiring].map((w) => w.stop(graceMs)));
  }
}
