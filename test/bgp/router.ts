// The BGP tests' two-host lab: a router running BIRD (ECMP, BFD 100 ms x 3, AS 65000) and one LB
// (AS 65001) on bridge bgp0, the router importing what the LB announces into its kernel table.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, type Lab, type NsProcess } from '../netns/topology.js';

export const BGP_VIP = '10.60.0.100';

const ROUTER_CONF = `router id 10.51.0.1;
protocol device { scan time 10; }
protocol bfd { interface "*" { interval 100 ms; multiplier 3; }; }
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
protocol bgp lb { local as 65000; neighbor 10.51.0.11 as 65001; bfd on; ipv4 { import all; export none; }; }
`;

/** router 10.51.0.1 and lb 10.51.0.11 on one bridge. */
export function createRouterLab(): Promise<Lab> {
  return createLab({
    bridges: ['bgp0'],
    hosts: [
      { name: 'router', links: [{ bridge: 'bgp0', address: '10.51.0.1/24' }] },
      { name: 'lb', links: [{ bridge: 'bgp0', address: '10.51.0.11/24' }] },
    ],
  });
}

/** Writes the router's BIRD config in `dir` and runs BIRD in the router namespace. */
export function startRouterBird(lab: Lab, dir: string): NsProcess {
  writeFileSync(join(dir, 'router.conf'), ROUTER_CONF);
  return lab.spawn('router', 'bird', ['-f', '-c', join(dir, 'router.conf'), '-s', join(dir, 'router.ctl'), '-P', join(dir, 'router.pid')]);
}
