// State saving off the apply path: changes within a short window share one write (saving
// thousands of backends is O(n)), one write at a time, the latest state always written last.

import type { Clock, TimerHandle } from '../../checks/clock.js';
import type { Logger } from '../log.js';
import { writeMarks } from '../state/marks-file.js';
import { writeSavedState, type SavedBackend } from '../state/store.js';

/** Writes the backends' state and the marks somewhere that survives a restart. */
export type Persist = (backends: ReadonlyMap<string, SavedBackend>, marks: ReadonlyMap<string, number>) => Promise<void>;

/** Saves into the state dir: state.json each time, marks.json only for a marks map not saved yet. */
export function persistToStateDir(stateDir: () => string): Persist {
  let lastMarks: ReadonlyMap<string, number> | undefined;
  return async (backends, marks) => {
    await writeSavedState(stateDir(), backends);
    // The engine replaces its marks map only on start and reload: the same map needs no look
    // (writeMarks leaves the file alone when a new map holds the same marks).
    if (marks !== lastMarks) {
      await writeMarks(stateDir(), marks);
      lastMarks = marks;
    }
  };
}

export interface SaverDeps {
  /** Writes the state as it is when called. */
  readonly save: () => Promise<void>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Changes within this window share one write (default 20 ms). */
  readonly delayMs?: number | undefined;
}

export class StateSaver {
  private writing: Promise<void> | undefined;
  private timer: TimerHandle | undefined;
  private again = false;

  constructor(private readonly deps: SaverDeps) {}

  /** The state changed: write it soon. */
  soon(): void {
    if (this.writing) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = this.deps.clock.setTimer(() => this.now(), this.deps.delayMs ?? 20);
  }

  /** Resolves once every state change so far is on disk. */
  async flush(): Promise<void> {
    for (let i = 0; i < 10 && (this.writing || this.again || this.timer !== undefined); i++) {
      if (this.timer !== undefined && !this.writing) this.now();
      await this.writing;
    }
  }

  /** Writes what is pending now; nothing is left waiting on a timer. */
  stop(): Promise<void> {
    return this.flush();
  }

  private now(): void {
    if (this.timer !== undefined) this.deps.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.writing = this.deps.save()
      .catch((err: Error) => this.deps.logger.warn({ err: err.message }, 'could not persist state'))
      .finally(() => {
        this.writing = undefined;
        if (this.again) {
          this.again = false;
          this.soon();
        }
      });
  }
}
