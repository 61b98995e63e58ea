// The latest operator action this node knows per backend (its own or a peer's), the highest
// revision it has seen, and the --local actions not stored yet. What a node republishes when Redis
// lost its data, and what decides whether an action read from Redis is newer (order.ts).

import type { Logger } from '../log.js';
import { Coalesced } from './coalesce.js';
import type { ActionRecord } from './messages.js';
import { isNewer, plausibleRevision } from './order.js';

/** Keeps the latest known action per backend across restarts (a file in the state dir). */
export interface ActionJournal {
  load(): Promise<ReadonlyMap<string, ActionRecord>>;
  save(actions: ReadonlyMap<string, ActionRecord>): Promise<void>;
}

export class ActionBook {
  private readonly known = new Map<string, ActionRecord>();
  /** Keys whose known action was taken with --local while disconnected and is not stored yet. */
  private readonly pendingLocal = new Set<string>();
  /** The highest revision seen in any valid action or config: new revisions start above it. */
  private highest = 0;
  private readonly journalWrite: Coalesced;

  constructor(private readonly journal: ActionJournal, private readonly logger: Logger, private readonly now: () => number = Date.now) {
    this.journalWrite = new Coalesced(() => journal.save(new Map(this.known)));
  }

  /**
   * Takes what the journal kept from the last run (a broken journal is an empty one; an entry far
   * ahead of the clock is dropped, or it would lift every later revision out of range).
   */
  async load(): Promise<void> {
    const saved = await this.journal.load().catch(() => new Map<string, ActionRecord>());
    for (const [key, action] of saved) {
      if (plausibleRevision(action.rev, this.now())) this.record(key, action, false);
      else this.logger.warn({ key, rev: action.rev }, `dropped the journaled action of ${key}: its revision is far ahead of this node's clock`);
    }
  }

  /** Revisions this node hands out start above this. */
  get highestSeen(): number {
    return this.highest;
  }

  /** A revision seen in Redis (any valid action or config, known backend or not). */
  see(rev: number): void {
    this.highest = Math.max(this.highest, rev);
  }

  /** This node's action, stored in Redis (`local` false) or only here until the reconnect. */
  own(key: string, action: ActionRecord, local: boolean): void {
    this.record(key, action);
    if (local) this.pendingLocal.add(key);
  }

  /** An action read from Redis: recorded and true when it is newer than the one known. */
  follow(key: string, action: ActionRecord): boolean {
    this.see(action.rev);
    if (!isNewer(action, this.known.get(key))) return false;
    this.record(key, action);
    this.pendingLocal.delete(key);
    return true;
  }

  /** Every known action, and whether it is a --local one the store has not had yet. */
  entries(): [string, ActionRecord, boolean][] {
    return [...this.known].map(([key, action]) => [key, action, this.pendingLocal.has(key)]);
  }

  /** The store has taken (or refused, for a newer one) the pending --local action of `key`. */
  replayed(key: string): void {
    this.pendingLocal.delete(key);
  }

  /** Resolves once the journal holds everything recorded so far. */
  settled(): Promise<void> {
    return this.journalWrite.settled();
  }

  private record(key: string, action: ActionRecord, save = true): void {
    this.known.set(key, action);
    this.see(action.rev);
    if (save) void this.journalWrite.request().catch((err: Error) => this.logger.warn({ err: err.message }, 'saving the cluster actions failed'));
  }
}
