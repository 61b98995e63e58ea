// The Netfilter for the config's driver; nftables is loaded only when used.

import type { Config } from '../../config/schema.js';
import { IptablesRestore } from '../apply/iptables.js';
import type { Netfilter } from '../apply/netfilter.js';
import type { Runner } from '../apply/runner.js';

export async function createNetfilter(config: Config, runner: Runner): Promise<Netfilter> {
  switch (config.dataplane.driver) {
    case 'iptables':
      return new IptablesRestore(runner);
    case 'nftables': {
      const { NftCli } = await import('../apply/nftables.js');
      return new NftCli(runner);
    }
    default: {
      const never: never = config.dataplane.driver;
      throw new Error(`unknown driver ${String(never)}`);
    }
  }
}
