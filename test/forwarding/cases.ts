// dsr and tunnel farms whose renders are kept as golden files (both drivers and the routes).

import type { GoldenCase } from '../render/cases.js';

const node = 'node: { id: lb1, state_dir: /nonexistent/state, run_dir: /nonexistent/run }\n';

const farm = (name: string, vip: string, mode: 'dsr' | 'tunnel', ips: readonly string[], base = 0x300): string => `  - name: ${name}
    vip: ${vip}
    ports: [80, 443]
    mode: ${mode}
    algorithm: hash-5tuple
    check: { type: tcp, port: 80 }
    backends:
${ips.map((ip, i) => `      - { name: ${name}${i + 1}, ip: ${ip}, weight: ${i + 1}, mark: 0x${(base + i).toString(16)} }`).join('\n')}
`;

export const FORWARDING_CASES: readonly GoldenCase[] = [
  { name: 'dsr-one-down', yaml: `${node}farms:\n${farm('web', '10.60.0.100', 'dsr', ['10.2.0.11', '10.2.0.12', '10.2.0.13'])}`, down: ['web/web2'] },
  {
    name: 'dsr-all-down-beside-dnat',
    yaml: `${node}farms:\n${farm('web', '10.60.0.100', 'dsr', ['10.2.0.11', '10.2.0.12'])}  - name: app
    vip: 10.60.0.101
    ports: [443]
    backends:
      - { name: a1, ip: 10.2.0.21, port: 8443, mark: 0x310 }
`,
    down: ['web/web1', 'web/web2'],
  },
  { name: 'tunnel', yaml: `${node}farms:\n${farm('far', '10.60.0.102', 'tunnel', ['192.0.2.11', '198.51.100.12'])}` },
  {
    name: 'dsr-tunnel-ipv6',
    yaml: `${node}farms:\n${farm('web6', 'fd00:60::100', 'dsr', ['fd00:2::11', 'fd00:2::12'])}${farm('far6', 'fd00:60::102', 'tunnel', ['2001:db8::11', '2001:db8::12'], 0x320)}${farm('srcip', '10.60.0.103', 'dsr', ['10.2.0.31', '10.2.0.32'], 0x340).replace('hash-5tuple', 'hash-srcip')}`,
  },
];
