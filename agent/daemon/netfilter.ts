// The Netfilter for the config's driver, one instance per address family behind one DualStack;
// nftables is loaded only when used.

import type { Config } from '../../config/schema.js';
import { DualStack } from '../apply/dual-stack.js';
import { IptablesRestore } from '../apply/iptables.js';
import type { Netfilter } from '../apply/netfilter.js';
import type { Runner } from '../apply/runner.js';

export async function createNetfilter(config: Config, runner: Runner): Promise<Netfilter> {
  switch (config.dataplane.driver) {
    case 'iptables':
      return new DualStack(new IptablesRestore(runner), new IptablesRestore(runner, { family: 'ipv6' }));
    case 'nftables': {
      const { NftCli } = await import('../apply/nftables.js');
      return new DualStack(new NftCli(runner), new NftCli(runner, { family: 'ip6' }));
    }
    default: {
      const never: never = config.dataplane.driver;
      throw new Error(`unknown driver ${String(never)}`);
    }
  }
}
