// IPv6 on the IPv4 lab topologies (client -- front -- lb -- back -- b1..bn): the harness builds
// IPv4 only, so the IPv6 plan is added here. Addresses are `nodad` (duplicate address detection
// would hold them tentative, unusable, for a second or more) and the LBs forward IPv6.

import type { Lab } from '../netns/topology.js';

export const VIP6 = 'fd00:1::100';
export const CLIENT6 = 'fd00:1::2';
export const LB1_FRONT6 = 'fd00:1::1';
export const LB1_BACK6 = 'fd00:2::1';
export const LB2_FRONT6 = 'fd00:1::3';
export const LB2_BACK6 = 'fd00:2::2';
export const backendIp6 = (i: number): string => `fd00:2::${10 + i}`;

/** `backends:` items on b1..bn over IPv6, one per weight (indented for farms[].backends). */
export function labBackends6Yaml(weights: readonly number[], port = 8080): string {
  return weights.map((w, i) => `      - { name: b${i + 1}, ip: "${backendIp6(i + 1)}", port: ${port}, weight: ${w} }`).join('\n');
}

async function addr(lab: Lab, host: string, bridge: string, cidr: string): Promise<void> {
  await lab.exec(host, 'ip', ['-6', 'addr', 'add', cidr, 'dev', lab.iface(host, bridge), 'nodad']);
}

/**
 * IPv6 addresses and routes on a lab built by singleLbTopology or pairTopology: the client routes
 * through lb1, the backends through `gateway` (lb1's back address by default; none in snat mode,
 * where only conntrack brings replies back).
 */
export async function addIPv6(lab: Lab, opts: { backends: number; mode?: 'dnat' | 'snat'; gateway?: string }): Promise<void> {
  const lbs = lab.hostNames.filter((h) => h === 'lb1' || h === 'lb2');
  for (const lb of lbs) {
    await lab.exec(lb, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    await addr(lab, lb, 'front', `${lb === 'lb1' ? LB1_FRONT6 : LB2_FRONT6}/64`);
    await addr(lab, lb, 'back', `${lb === 'lb1' ? LB1_BACK6 : LB2_BACK6}/64`);
  }
  await addr(lab, 'client', 'front', `${CLIENT6}/64`);
  await lab.exec('client', 'ip', ['-6', 'route', 'replace', 'default', 'via', LB1_FRONT6]);
  for (let i = 1; i <= opts.backends; i++) {
    await addr(lab, `b${i}`, 'back', `${backendIp6(i)}/64`);
    if ((opts.mode ?? 'dnat') === 'dnat') await lab.exec(`b${i}`, 'ip', ['-6', 'route', 'replace', 'default', 'via', opts.gateway ?? LB1_BACK6]);
  }
  await resolveNeighbours(lab, lbs, opts.backends);
}

/**
 * One ping each way on every link, so neighbour discovery is done before traffic is measured: an
 * unresolved IPv6 neighbour queues only a few packets (unres_qlen), and a first burst of
 * connections would lose SYNs to it and wait a second for their retransmission.
 */
async function resolveNeighbours(lab: Lab, lbs: readonly string[], backends: number): Promise<void> {
  const ping = (host: string, to: string) => lab.exec(host, 'ping', ['-6', '-c', '1', '-W', '1', '-q', to]).catch(() => undefined);
  for (const lb of lbs) {
    await ping('client', lb === 'lb1' ? LB1_FRONT6 : LB2_FRONT6);
    for (let i = 1; i <= backends; i++) await ping(lb, backendIp6(i));
  }
}
