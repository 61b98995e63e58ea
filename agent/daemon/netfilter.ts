// The Netfilter for the config's driver, one instance per address family behind one DualStack;
// nftables is loaded only when used.

import type { Config } from '../../config/schema.js';
import { DualStack } from '../apply/dual-stack.js';
import { IptablesRestore } from '../apply/iptables.js';
import type { Netfilter } from '../apply/netfilter.js';
import type { RunOptions, Runner } from '../apply/runner.js';
import { RoutedNetfilter } from '../apply/route-netfilter.js';

/** `onSpawn` is told the pid of each process that writes the ruleset (drift detection ignores them).
 * The routing half of dsr/tunnel farms (ip rule/route by mark) goes around either driver. */
export async function createNetfilter(config: Config, runner: Runner, onSpawn?: RunOptions['onSpawn']): Promise<Netfilter> {
  return new RoutedNetfilter(await createFilter(config, runner, onSpawn), runner);
}

async function createFilter(config: Config, runner: Runner, onSpawn?: RunOptions['onSpawn']): Promise<Netfilter> {
  const writers = onSpawn ? { onSpawn } : {};
  switch (config.dataplane.driver) {
    case 'iptables':
      return new DualStack(new IptablesRestore(runner, writers), new IptablesRestore(runner, { family: 'ipv6', ...writers }));
    case 'nftables': {
      const { NftCli } = await import('../apply/nftables.js');
      return new DualStack(new NftCli(runner, writers), new NftCli(runner, { family: 'ip6', ...writers }));
    }
    default: {
      const never: never = config.dataplane.driver;
      throw new Error(`unknown driver ${String(never)}`);
    }
  }
}
