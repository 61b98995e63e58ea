// The engine's events, told to listeners as they happen, and the last ones kept for
// `agentctl events`: transitions, admin changes and apply errors (applies and single check
// results are metrics, not history).

import type { AdminState } from '../../config/schema.js';
import type { SyncResult } from '../apply/netfilter.js';
import type { Health } from '../plan/plan.js';

export interface LastCheck {
  readonly ok: boolean;
  readonly message: string;
  readonly latencyMs: number;
  readonly at: number;
}

export type EngineEvent =
  | { type: 'transition'; farm: string; backend: string; from: Health; to: Health; reason: string; at: number }
  | { type: 'admin'; farm: string; backend: string; from: AdminState; to: AdminState; at: number }
  | { type: 'applied'; result: SyncResult; farms: readonly string[]; at: number }
  | { type: 'apply-error'; error: string; at: number }
  /** `result` is the backend's last-check record, updated in place by the next check: read it at once. */
  | { type: 'check'; farm: string; backend: string; result: LastCheck };

export type HistoryEvent = Extract<EngineEvent, { type: 'transition' | 'admin' | 'apply-error' }>;
export const isHistoryEvent = (event: { type: string }): event is HistoryEvent =>
  event.type === 'transition' || event.type === 'admin' || event.type === 'apply-error';

export const HISTORY_SIZE = 1000;

export class EventHistory {
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private readonly kept: HistoryEvent[] = [];

  constructor(private readonly size = HISTORY_SIZE) {}

  on(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: EngineEvent): void {
    if (isHistoryEvent(event)) {
      this.kept.push(event);
      if (this.kept.length > this.size) this.kept.shift();
    }
    for (const listener of this.listeners) listener(event);
  }

  /** The last `n` history events, oldest first. */
  recent(n = this.size): HistoryEvent[] {
    return n <= 0 ? [] : this.kept.slice(-n);
  }

  /** Listeners hear nothing more (the daemon stops). */
  stop(): void {
    this.listeners.clear();
  }
}
