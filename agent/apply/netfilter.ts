// The capability the engine needs from the kernel's packet filter. One implementation per
// mechanism (iptables-restore, nft); the engine never runs a filter command itself.

import type { DesiredState } from '../plan/plan.js';

export type Driver = 'iptables' | 'nftables';

export interface SyncResult {
  /** False when the kernel already held the desired rules and nothing was run. */
  readonly changed: boolean;
  readonly durationMs: number;
  readonly rewritten: readonly string[];
  readonly deleted: readonly string[];
}

export interface DriftReport {
  readonly inSync: boolean;
  /** One line per difference, e.g. "mangle/HAM-app: 2 rules in the kernel, 3 applied". */
  readonly differences: readonly string[];
}

export interface Netfilter {
  readonly driver: Driver;
  /** Takes what the kernel already holds of the agent's rules as applied (start-up, no flush). */
  adopt(): Promise<void>;
  /**
   * Brings the kernel to `desired` in one transaction. Only farms named in `changed` are
   * re-rendered (all when absent). Throws ApplyError; on failure the kernel is unchanged.
   */
  sync(desired: DesiredState, changed?: ReadonlySet<string>): Promise<SyncResult>;
  /** Reads the agent's rules back from the kernel and compares them with what it applied. */
  verify(): Promise<DriftReport>;
  /**
   * Re-reads the kernel and rewrites whatever differs from `desired`. With `changed` (what a
   * kernel event says someone else changed), a driver that can rewrites only those objects from
   * what it applied, without reading the kernel; one that cannot does the full repair.
   */
  repair(desired: DesiredState, changed?: readonly ChangedObject[]): Promise<SyncResult>;
  /** What the agent has applied, in the driver's own syntax. */
  appliedText(): string;
  /** Removes every chain and jump of the agent (uninstall; never done on stop). */
  removeAll(): Promise<void>;
}

/** An object of the agent's nft table that another process changed, as its kernel event names it. */
export interface ChangedObject {
  /** The table's family: 'ip' or 'ip6'. */
  readonly family: string;
  readonly kind: 'chain' | 'set';
  readonly name: string;
  /** The object itself was deleted (not only rules or elements in it). */
  readonly deleted: boolean;
}

export class ApplyError extends Error {
  constructor(message: string, readonly transaction?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApplyError';
  }
}
