// The config of one LB of the active-active lab: the same farms on all three (so every LB builds
// the same hash-5tuple table), its own node id and BGP router id, BIRD spawned by the agent.

import type { AgentDir } from '../support/agent.js';
import { BFD_INTERVAL_MS, BFD_MULTIPLIER, LB_ADDR, LB_ASN, ROUTER_ASN, ROUTER_CORE, backendAddr, type LbName } from './topology.js';

export interface AaFarm {
  readonly name: string;
  readonly vip: string;
  readonly mode: 'dnat' | 'snat' | 'dsr' | 'tunnel';
}

/** The lab's farms: one per forwarding mode, each on its own VIP. */
export const FARMS = {
  dsr: { name: 'dsr', vip: '10.60.0.100', mode: 'dsr' },
  tunnel: { name: 'tunnel', vip: '10.60.0.101', mode: 'tunnel' },
  snat: { name: 'snat', vip: '10.60.0.102', mode: 'snat' },
} as const satisfies Record<string, AaFarm>;

export interface AaConfigOptions {
  readonly driver: 'iptables' | 'nftables';
  readonly farms: readonly AaFarm[];
  readonly backends: number;
  readonly weights?: readonly number[] | undefined;
}

function farmYaml(farm: AaFarm, opts: AaConfigOptions): string {
  const backends = Array.from({ length: opts.backends }, (_, k) => {
    const weight = opts.weights?.[k];
    return `      - { name: b${k + 1}, ip: ${backendAddr(k + 1)}, port: 80${weight === undefined ? '' : `, weight: ${weight}`} }`;
  });
  // snat: the backends see the LB's own address, so replies return to the LB that tracks the flow.
  return `  - name: ${farm.name}
    vip: ${farm.vip}
    ports: [80]
    mode: ${farm.mode}
    algorithm: hash-5tuple
${farm.mode === 'snat' ? '    snat_source: masquerade\n' : ''}    check: { type: tcp, interval: 250ms, timeout: 200ms, rise: 1, fall: 2 }
    backends:
${backends.join('\n')}
`;
}

export function aaConfig(dir: AgentDir, lb: LbName, opts: AaConfigOptions): string {
  return `${dir.header(lb)}log: { level: info }
dataplane: { driver: ${opts.driver} }
farms:
${opts.farms.map((f) => farmYaml(f, opts)).join('')}bgp:
  asn: ${LB_ASN}
  router_id: ${LB_ADDR[lb]}
  peers:
    - { address: ${ROUTER_CORE}, asn: ${ROUTER_ASN}, bfd: true }
  bfd: { interval: ${BFD_INTERVAL_MS}ms, multiplier: ${BFD_MULTIPLIER} }
  speaker: { mode: spawn }
`;
}
