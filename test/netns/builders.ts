// Ready-made topologies, and farm backends on them, shared by the real-kernel tests and the `npm run lab` demo.
import type { HostSpec, TopologySpec } from './spec.js';

/** The virtual IP tests put on the load balancer's front interface. */
export const VIP = '10.1.0.100';
export const CLIENT_IP = '10.1.0.2';
export const LB1_FRONT_IP = '10.1.0.1';
export const LB1_BACK_IP = '10.2.0.1';
export const LB2_FRONT_IP = '10.1.0.3';
export const LB2_BACK_IP = '10.2.0.2';

export type LbMode = 'dnat' | 'snat';

/** Address of backend number `i` (1-based): b1 = 10.2.0.11, b2 = 10.2.0.12, ... */
export function backendIp(i: number): string {
  if (!Number.isInteger(i) || i < 1 || i > 200) throw new Error(`backend index ${i} out of range 1..200`);
  return `10.2.0.${10 + i}`;
}

/**
 * The `backends:` items of a farm (indented for `farms[].backends`) on the lab's b1..bn: `n`
 * backends, or one per weight with that weight. No final newline.
 */
export function labBackendsYaml(backends: number | readonly number[], opts: { port?: number } = {}): string {
  const weights: readonly (number | undefined)[] = typeof backends === 'number' ? Array.from({ length: backends }, () => undefined) : backends;
  return weights.map((w, i) => `      - { name: b${i + 1}, ip: ${backendIp(i + 1)}, port: ${opts.port ?? 8080}${w === undefined ? '' : `, weight: ${w}`} }`).join('\n');
}

function backends(n: number, mode: LbMode, gateway: string): HostSpec[] {
  if (!Number.isInteger(n) || n < 1 || n > 50) throw new Error(`backends must be an integer in 1..50, got ${n}`);
  return Array.from({ length: n }, (_, k) => ({
    name: `b${k + 1}`,
    links: [{ bridge: 'back', address: `${backendIp(k + 1)}/24` }],
    // In SNAT mode the backends must not know a way back to the client: only replies that
    // conntrack un-SNATs on the balancer can return, which is exactly what SNAT tests assert.
    routes: mode === 'dnat' ? [{ to: 'default' as const, via: gateway }] : [],
  }));
}

const client: HostSpec = {
  name: 'client',
  links: [{ bridge: 'front', address: `${CLIENT_IP}/24` }],
  routes: [{ to: 'default', via: LB1_FRONT_IP }],
};

function lb(name: string, front: string, back: string): HostSpec {
  return {
    name,
    links: [
      { bridge: 'front', address: `${front}/24` },
      { bridge: 'back', address: `${back}/24` },
    ],
    forwarding: true,
  };
}

/** client -- front -- lb1 -- back -- b1..bn. */
export function singleLbTopology(opts: { backends: number; mode: LbMode }): TopologySpec {
  return {
    bridges: ['front', 'back'],
    hosts: [client, lb('lb1', LB1_FRONT_IP, LB1_BACK_IP), ...backends(opts.backends, opts.mode, LB1_BACK_IP)],
  };
}

/**
 * Two balancers on both bridges, for failover tests. Backends route via lb1's back address in
 * DNAT mode by default; a failover test moves that route (lab.setRoute) or passes `gateway`.
 */
export function pairTopology(opts: { backends: number; mode?: LbMode; gateway?: string }): TopologySpec {
  const mode = opts.mode ?? 'dnat';
  return {
    bridges: ['front', 'back'],
    hosts: [
      client,
      lb('lb1', LB1_FRONT_IP, LB1_BACK_IP),
      lb('lb2', LB2_FRONT_IP, LB2_BACK_IP),
      ...backends(opts.backends, mode, opts.gateway ?? LB1_BACK_IP),
    ],
  };
}

/**
 * One host "lb" with interfaces named eth0 (front) and eth1 (back), as rendered keepalived and
 * conntrackd configs expect: `keepalived -t` and conntrackd check the interfaces exist.
 */
export function ethHostTopology(): TopologySpec {
  return {
    bridges: ['front', 'back'],
    hosts: [{ name: 'lb', links: [
      { bridge: 'front', ifname: 'eth0', address: '192.168.101.1/24' },
      { bridge: 'back', ifname: 'eth1', address: '192.168.1.2/24' },
    ] }],
  };
}
