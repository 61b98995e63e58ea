// Whether the nodes agree on each backend's admin state. During an action they differ for a few
// milliseconds; a difference that outlives a resync is a defect or a lost action, so it is logged,
// counted and shown once it has lasted `graceMs`. Pure: time is passed in.

import type { AdminState } from '../../config/schema.js';

/** node -> the admin state it applies. */
export type AdminViews = Readonly<Record<string, AdminState>>;

export interface Disagreement {
  readonly key: string;
  readonly views: AdminViews;
  /** Since when the views differ (ms since the epoch). */
  readonly since: number;
}

export interface AgreementChange {
  /** Keys whose disagreement has just outlasted the grace. */
  readonly lasting: Disagreement[];
  /** Keys reported as lasting before that agree again. */
  readonly resolved: string[];
}

export function disagrees(views: AdminViews): boolean {
  const states = Object.values(views);
  return states.some((s) => s !== states[0]);
}

export class AdminAgreement {
  private readonly open = new Map<string, { since: number; views: AdminViews }>();
  private readonly reported = new Set<string>();
  /** Disagreements that outlasted the grace since start, for a counter. */
  total = 0;

  constructor(private readonly graceMs: number) {}

  /** Takes the views of every backend now; says what just started lasting and what ended. */
  update(all: ReadonlyMap<string, AdminViews>, now: number): AgreementChange {
    const lasting: Disagreement[] = [];
    const resolved: string[] = [];
    for (const [key, views] of all) {
      if (!disagrees(views)) continue;
      const since = this.open.get(key)?.since ?? now;
      this.open.set(key, { since, views });
      if (!this.reported.has(key) && now - since >= this.graceMs) {
        this.reported.add(key);
        this.total++;
        lasting.push({ key, views, since });
      }
    }
    for (const key of [...this.open.keys()]) {
      const views = all.get(key);
      if (views && disagrees(views)) continue;
      this.open.delete(key);
      if (this.reported.delete(key)) resolved.push(key);
    }
    return { lasting, resolved };
  }

  /** The disagreements that have outlasted the grace, oldest first. */
  lastingNow(): Disagreement[] {
    return [...this.reported].map((key) => ({ key, ...this.open.get(key)! })).sort((a, b) => a.since - b.since);
  }

  /** Forgets everything (disconnected: peers' views are not known any more). */
  clear(): void {
    this.open.clear();
    this.reported.clear();
  }
}
