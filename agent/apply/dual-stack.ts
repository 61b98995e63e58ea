// One Netfilter over both address families: IPv4 farms through one driver instance (iptables, or
// the `ip` table), IPv6 farms through another (ip6tables, or the `ip6` table). Each family is one
// kernel transaction of its own; marks stay one space, assigned over the farms of both.

import type { DesiredState } from '../plan/plan.js';
import { ApplyError, type ChangedObject, type Driver, type DriftReport, type Netfilter, type SyncResult } from './netfilter.js';

const hasIPv6 = (desired: DesiredState): boolean => desired.farms.some((farm) => farm.family === 'ipv6');

export class DualStack implements Netfilter {
  readonly driver: Driver;
  /**
   * Whether the IPv6 side may hold rules: after adopt (the kernel may keep some from an earlier
   * run) and while farms are IPv6. A config without IPv6 farms then costs one removal, and after
   * that no ip6tables or `ip6` table command at all.
   */
  private v6Live = false;
  /** Why the IPv6 side could not be read at start (no ip6tables, IPv6 off): fatal only to IPv6 farms. */
  private v6Unreadable: unknown;

  constructor(private readonly v4: Netfilter, private readonly v6: Netfilter) {
    this.driver = v4.driver;
  }

  async adopt(): Promise<void> {
    await this.v4.adopt();
    try {
      await this.v6.adopt();
      this.v6Unreadable = undefined;
      this.v6Live = true;
    } catch (err) {
      this.v6Unreadable = err;
      this.v6Live = false;
    }
  }

  async sync(desired: DesiredState, changed?: ReadonlySet<string>): Promise<SyncResult> {
    const v4 = await this.v4.sync(desired, changed);
    const v6 = await this.syncV6(desired, (d) => this.v6.sync(d, changed));
    return merge(v4, v6);
  }

  async verify(): Promise<DriftReport> {
    const v4 = await this.v4.verify();
    if (!this.v6Live) return v4;
    const v6 = await this.v6.verify();
    return { inSync: v4.inSync && v6.inSync, differences: [...v4.differences, ...v6.differences.map((d) => `ipv6 ${d}`)] };
  }

  async repair(desired: DesiredState, changed?: readonly ChangedObject[]): Promise<SyncResult> {
    const v4 = await this.v4.repair(desired, changed);
    const v6 = await this.syncV6(desired, (d) => this.v6.repair(d, changed));
    return merge(v4, v6);
  }

  appliedText(): string {
    const v4 = this.v4.appliedText();
    return this.v6Live ? `${v4}\n# IPv6 farms\n${this.v6.appliedText()}` : v4;
  }

  async removeAll(): Promise<void> {
    await this.v4.removeAll();
    await this.v6.removeAll().catch((err: unknown) => {
      if (this.v6Live) throw err;
    });
    this.v6Live = false;
  }

  private async syncV6(desired: DesiredState, apply: (d: DesiredState) => Promise<SyncResult>): Promise<SyncResult | undefined> {
    if (hasIPv6(desired)) {
      if (this.v6Unreadable !== undefined) {
        throw new ApplyError(`cannot apply the IPv6 farms: ${(this.v6Unreadable as Error).message ?? String(this.v6Unreadable)}`, undefined, { cause: this.v6Unreadable });
      }
      this.v6Live = true;
      return apply(desired);
    }
    if (!this.v6Live) return undefined;
    // The last IPv6 farm went (or there never was one): the family's rules go whole.
    await this.v6.removeAll();
    this.v6Live = false;
    return { changed: true, durationMs: 0, rewritten: [], deleted: [] };
  }
}

function merge(v4: SyncResult, v6: SyncResult | undefined): SyncResult {
  if (!v6) return v4;
  return {
    changed: v4.changed || v6.changed,
    durationMs: v4.durationMs + v6.durationMs,
    rewritten: [...v4.rewritten, ...v6.rewritten.map((name) => `ipv6 ${name}`)],
    deleted: [...v4.deleted, ...v6.deleted.map((name) => `ipv6 ${name}`)],
  };
}
