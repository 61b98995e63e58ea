// The agent's Netfilter as the daemon builds it (one instance per family behind DualStack), for a
// lab namespace, with either driver.

import { DualStack } from '../../agent/apply/dual-stack.js';
import { IptablesRestore } from '../../agent/apply/iptables.js';
import type { Netfilter } from '../../agent/apply/netfilter.js';
import { NftCli } from '../../agent/apply/nftables.js';
import type { Lab } from '../netns/topology.js';
import { NsRunner } from '../support/ns-runner.js';

export const DRIVERS = ['iptables', 'nftables'] as const;
export type DriverName = (typeof DRIVERS)[number];

export function labNetfilter(lab: Lab, host: string, driver: DriverName): Netfilter {
  const runner = new NsRunner(lab.nsName(host));
  if (driver === 'iptables') return new DualStack(new IptablesRestore(runner), new IptablesRestore(runner, { family: 'ipv6' }));
  const session = ['ip', 'netns', 'exec', lab.nsName(host), 'nft'];
  return new DualStack(new NftCli(runner, { session }), new NftCli(runner, { session, family: 'ip6' }));
}
