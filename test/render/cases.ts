// Farms whose rendered rules are kept as golden files (iptables here, nftables beside them).

export interface GoldenCase {
  readonly name: string;
  readonly yaml: string;
  readonly down?: readonly string[];
}

const node = 'node: { id: lb1, state_dir: /nonexistent/state, run_dir: /nonexistent/run }\n';

/** The seed's farm: VIP 192.168.101.250:443, app0/app1 on 443, equal weights, the seed's marks. */
export const seedYaml = (mode: 'dnat' | 'snat', extra = ''): string => `${node}farms:
  - name: app
    vip: 192.168.101.250
    ports: [443]
    mode: ${mode}
${extra}    backends:
      - { name: app0, ip: 192.168.1.10, port: 443, weight: 1, mark: 0x20c }
      - { name: app1, ip: 192.168.1.11, port: 443, weight: 1, mark: 0x20d }
`;

export const GOLDEN_CASES: readonly GoldenCase[] = [
  { name: 'seed-dnat', yaml: seedYaml('dnat') },
  { name: 'seed-snat', yaml: seedYaml('snat') },
  { name: 'seed-snat-masquerade', yaml: seedYaml('snat', '    snat_source: masquerade\n') },
  { name: 'seed-snat-address', yaml: seedYaml('snat', '    snat_source: 192.168.1.254\n') },
  { name: 'seed-one-down', yaml: seedYaml('dnat'), down: ['app/app1'] },
  { name: 'seed-all-down', yaml: seedYaml('dnat'), down: ['app/app0', 'app/app1'] },
  {
    name: 'weights-123',
    yaml: `${node}farms:
  - name: web
    vip: 10.1.0.100
    ports: [80, 443]
    backends:
      - { name: b1, ip: 10.2.0.11, port: 8080, weight: 1 }
      - { name: b2, ip: 10.2.0.12, port: 8080, weight: 2 }
      - { name: b3, ip: 10.2.0.13, port: 8080, weight: 3 }
`,
  },
  {
    name: 'roundrobin-udp',
    yaml: `${node}farms:
  - name: dns
    vip: 10.1.0.100
    ports: [53]
    protocol: udp
    algorithm: roundrobin
    check: { type: none }
    backends:
      - { name: d1, ip: 10.2.0.11, port: 53, weight: 1 }
      - { name: d2, ip: 10.2.0.12, port: 53, weight: 2 }
`,
  },
  {
    name: 'hash-srcip',
    yaml: `${node}farms:
  - name: sticky
    vip: 10.1.0.100
    ports: [443]
    algorithm: hash-srcip
    backends:
      - { name: s1, ip: 10.2.0.11, port: 443 }
      - { name: s2, ip: 10.2.0.12, port: 443 }
      - { name: s3, ip: 10.2.0.13, port: 443 }
`,
    down: ['sticky/s2'],
  },
  {
    name: 'persistence-ranges',
    yaml: `${node}farms:
  - name: multi
    vip: 10.1.0.100
    ports: [80, 443, "8000-8010", 9001, 9002, 9003, 9004, 9005, 9006, 9007, 9008, 9009, 9010, 9011, 9012]
    persistence: { type: srcip, ttl: 2m }
    check: { type: tcp, port: 80 }
    backends:
      - { name: m1, ip: 10.2.0.11 }
      - { name: m2, ip: 10.2.0.12 }
`,
  },
  {
    name: 'priority-groups',
    yaml: `${node}farms:
  - name: app
    vip: 10.1.0.100
    ports: [443]
    backends:
      - { name: main1, ip: 10.2.0.11, port: 443, priority: 1 }
      - { name: main2, ip: 10.2.0.12, port: 443, priority: 1 }
      - { name: spare, ip: 10.2.0.13, port: 443, priority: 2 }
`,
    down: ['app/main1', 'app/main2'],
  },
  {
    name: 'ipv6-weights-snat-persistence',
    yaml: `${node}farms:
  - name: web6
    vip: fd00:1::100
    ports: [80, "8000-8010"]
    mode: snat
    persistence: { type: srcip, ttl: 60s }
    backends:
      - { name: b1, ip: "fd00:2::11", port: 8080, weight: 1 }
      - { name: b2, ip: "fd00:2::12", port: 8080, weight: 2 }
      - { name: b3, ip: "fd00:2::13", port: 8080, weight: 3 }
`,
  },
  {
    name: 'ipv6-hash-srcip-down',
    yaml: `${node}farms:
  - name: sticky6
    vip: fd00:1::101
    ports: [443]
    algorithm: hash-srcip
    backends:
      - { name: s1, ip: "fd00:2::11", port: 443 }
      - { name: s2, ip: "fd00:2::12", port: 443 }
`,
    down: ['sticky6/s1', 'sticky6/s2'],
  },
  {
    name: 'dual-stack',
    yaml: `${node}farms:
  - name: web
    vip: 10.1.0.100
    ports: [80]
    backends:
      - { name: b1, ip: 10.2.0.11, port: 8080 }
      - { name: b2, ip: 10.2.0.12, port: 8080 }
  - name: web6
    vip: "fd00:1::100"
    ports: [80]
    algorithm: roundrobin
    backends:
      - { name: b1, ip: "fd00:2::11", port: 8080 }
      - { name: b2, ip: "fd00:2::12", port: 8080 }
`,
  },
  {
    name: 'protocol-all',
    yaml: `${node}farms:
  - name: any
    vip: 10.1.0.101
    protocol: all
    mode: snat
    check: { type: tcp, port: 22 }
    backends:
      - { name: a1, ip: 10.2.0.11, weight: 1 }
      - { name: a2, ip: 10.2.0.12, weight: 3 }
`,
  },
  {
    name: 'protocol-all-down',
    yaml: `${node}farms:
  - name: any
    vip: 10.1.0.101
    protocol: all
    check: { type: none }
    backends:
      - { name: a1, ip: 10.2.0.11 }
`,
    down: ['any/a1'],
  },
  {
    name: 'sctp',
    yaml: `${node}farms:
  - name: sig
    vip: 10.1.0.100
    protocol: sctp
    ports: [2905, "3868-3870"]
    check: { type: none }
    backends:
      - { name: m1, ip: 10.2.0.11, weight: 1 }
      - { name: m2, ip: 10.2.0.12, weight: 1 }
`,
  },
  {
    name: 'helpers',
    yaml: `${node}farms:
  - name: ftp
    vip: 10.1.0.100
    ports: [21]
    helper: ftp
    backends:
      - { name: f1, ip: 10.2.0.11, port: 21 }
      - { name: f2, ip: 10.2.0.12, port: 21 }
  - name: tftp
    vip: 10.1.0.100
    ports: [69]
    protocol: udp
    helper: tftp
    mode: snat
    check: { type: none }
    backends:
      - { name: t1, ip: 10.2.0.11, port: 69 }
  - name: sip
    vip: 10.1.0.100
    ports: [5060]
    protocol: udp
    helper: sip
    check: { type: none }
    backends:
      - { name: s1, ip: 10.2.0.11, port: 5060 }
  - name: ftp6
    vip: "fd00:1::100"
    ports: [21]
    helper: ftp
    backends:
      - { name: f1, ip: "fd00:2::11", port: 21 }
`,
  },
  {
    name: 'leastconn-limits-log',
    yaml: `${node}farms:
  - name: web
    vip: 10.1.0.100
    ports: [80, 443]
    algorithm: leastconn
    limits: { new_per_second: 1000, burst: 200, established: 10000 }
    log: true
    backends:
      - { name: b1, ip: 10.2.0.11, port: 8080, weight: 1, max_conns: 500 }
      - { name: b2, ip: 10.2.0.12, port: 8080, weight: 2 }
  - name: dns6
    vip: "fd00:1::100"
    ports: [53]
    protocol: udp
    check: { type: none }
    limits: { new_per_second: 50000, action: drop }
    backends:
      - { name: d1, ip: "fd00:2::11", port: 53, max_conns: 100 }
`,
  },
  {
    name: 'max-conns-all-full',
    yaml: `${node}farms:
  - name: app
    vip: 10.1.0.100
    ports: [443]
    log: true
    backends:
      - { name: a1, ip: 10.2.0.11, port: 443, max_conns: 2 }
      - { name: a2, ip: 10.2.0.12, port: 443, max_conns: 2 }
`,
    down: ['app/a1', 'app/a2'],
  },
];
