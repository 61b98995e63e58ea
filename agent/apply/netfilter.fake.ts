// A Netfilter that records what it was asked to apply, for engine unit tests.

import type { DesiredState } from '../plan/plan.js';
import type { ChangedObject, Driver, DriftReport, Netfilter, SyncResult } from './netfilter.js';
import { ApplyError } from './netfilter.js';

export class FakeNetfilter implements Netfilter {
  constructor(readonly driver: Driver = 'iptables') {}
  readonly syncs: { desired: DesiredState; changed: string[] | undefined; at: number }[] = [];
  /** Makes the next N syncs fail. */
  failNext = 0;
  /** Called inside each sync (e.g. to record ordering against conntrack cuts). */
  onSync: (() => void) | undefined;
  /** What each repair was told had changed (undefined: a full repair). */
  readonly repairs: (readonly ChangedObject[] | undefined)[] = [];
  /** The drift the next verify reports (one line per difference). */
  drift: string[] = [];
  verifies = 0;

  async adopt(): Promise<void> {}

  async sync(desired: DesiredState, changed?: ReadonlySet<string>): Promise<SyncResult> {
    this.onSync?.();
    if (this.failNext > 0) {
      this.failNext--;
      throw new ApplyError('iptables-restore exited 4: resource busy');
    }
    this.syncs.push({ desired, changed: changed && [...changed].sort(), at: Date.now() });
    return { changed: true, durationMs: 0, rewritten: [], deleted: [] };
  }

  async verify(): Promise<DriftReport> {
    this.verifies++;
    return { inSync: this.drift.length === 0, differences: [...this.drift] };
  }

  async repair(desired: DesiredState, changed?: readonly ChangedObject[]): Promise<SyncResult> {
    this.repairs.push(changed);
    this.drift = [];
    return this.sync(desired);
  }

  appliedText(): string {
    return '';
  }

  async removeAll(): Promise<void> {}

  /** The backends in the chain of a farm in the last sync. */
  chainOf(farm: string): string[] {
    return this.syncs.at(-1)?.desired.farms.find((f) => f.name === farm)?.chain.map((b) => b.name) ?? [];
  }
}
