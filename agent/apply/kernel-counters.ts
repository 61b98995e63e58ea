// Reads the kernel's over-limit counters: one command per address family that has farms with
// limits (`nft -j list counters table ip ha_agent`, or `iptables-save -c -t filter`), never one
// per farm, so a read costs the same with one limited farm as with a thousand.

import type { IpFamily } from '../../config/net.js';
import type { DesiredState } from '../plan/plan.js';
import { NFT_TABLE } from '../render/nft-model.js';
import { familiesToRead, limitCounts, nftFamily, parseIptablesCounters, parseNftCounters, NO_COUNTS, type LimitCounts } from './limit-counters.js';
import type { Driver } from './netfilter.js';
import { describeFailure, type Runner } from './runner.js';

export interface KernelCounterOptions {
  readonly nftCommand?: string;
  readonly iptablesSave?: string;
  readonly ip6tablesSave?: string;
  readonly timeoutMs?: number;
}

/** The over-limit counts of the planned farms, read from the kernel. */
export interface LimitCounterSource {
  read(desired: DesiredState): Promise<LimitCounts>;
}

export class KernelLimitCounters implements LimitCounterSource {
  constructor(private readonly runner: Runner, private readonly driver: Driver, private readonly options: KernelCounterOptions = {}) {}

  /** Rejects with the failed command's description; nothing is run when no farm has limits. */
  async read(desired: DesiredState): Promise<LimitCounts> {
    const families = familiesToRead(desired);
    if (families.length === 0) return NO_COUNTS;
    const counters = new Map<string, number>();
    for (const family of families) {
      for (const [key, packets] of await this.readFamily(family)) counters.set(key, packets);
    }
    return limitCounts(this.driver, desired, counters);
  }

  private async readFamily(family: IpFamily): Promise<Map<string, number>> {
    const [command, args] = this.command(family);
    const result = await this.runner.run(command, args, { timeoutMs: this.options.timeoutMs ?? 5000 });
    if (result.exitCode !== 0 || result.timedOut) throw new Error(`cannot read the over-limit counters: ${describeFailure(result)}`);
    switch (this.driver) {
      case 'nftables': return parseNftCounters(result.stdout);
      case 'iptables': return parseIptablesCounters(result.stdout, family);
      default: {
        const never: never = this.driver;
        throw new Error(`unknown driver ${String(never)}`);
      }
    }
  }

  private command(family: IpFamily): [string, string[]] {
    switch (this.driver) {
      case 'nftables': return [this.options.nftCommand ?? 'nft', ['-j', 'list', 'counters', 'table', nftFamily(family), NFT_TABLE]];
      case 'iptables': {
        const save = family === 'ipv6' ? this.options.ip6tablesSave ?? 'ip6tables-save' : this.options.iptablesSave ?? 'iptables-save';
        return [save, ['-c', '-t', 'filter']];
      }
      default: {
        const never: never = this.driver;
        throw new Error(`unknown driver ${String(never)}`);
      }
    }
  }
}
