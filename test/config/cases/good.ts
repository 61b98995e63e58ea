// Configs that must load, each with the parsed values it must produce.

import type { Config } from '../../../config/schema.js';
import { backend, config, farm, vrrp } from './yaml.js';

export interface GoodCase {
  readonly name: string;
  readonly yaml: string;
  /** The part of the parsed config under test... */
  readonly get: (config: Config) => unknown;
  /** ...and what it must deep-equal. */
  readonly want: unknown;
}

const check = (c: string) => config([farm({ check: c })]);
const ms = (c: Config) => ({ interval: c.farms[0]!.check.interval, timeout: c.farms[0]!.check.timeout });

export const GOOD_CASES: readonly GoodCase[] = [
  {
    name: 'farm defaults',
    yaml: config([farm()]),
    get: (c) => { const { protocol, mode, snat_source, algorithm, persistence, cut_on_down } = c.farms[0]!; return { protocol, mode, snat_source, algorithm, persistence, cut_on_down }; },
    want: { protocol: 'tcp', mode: 'dnat', snat_source: 'vip', algorithm: 'weight', persistence: undefined, cut_on_down: undefined },
  },
  { name: 'check defaults: tcp 2s/1s/2/3', yaml: config([farm()]), get: (c) => c.farms[0]!.check,
    want: { type: 'tcp', interval: 2000, timeout: 1000, rise: 2, fall: 3 } },
  { name: 'a check without type is a tcp check', yaml: check('{ interval: 5s }'), get: (c) => c.farms[0]!.check,
    want: { type: 'tcp', interval: 5000, timeout: 1000, rise: 2, fall: 3 } },
  { name: 'backend defaults: weight 1, priority 1, enabled', yaml: config([farm()]), get: (c) => c.farms[0]!.backends[0],
    want: { name: 'a0', ip: '10.0.0.1', port: 80, weight: 1, priority: 1, admin: 'enabled', max_conns: 0 } },
  { name: 'node, control and dataplane defaults', yaml: config([farm()]), get: (c) => ({ node: c.node, control: c.control, dataplane: c.dataplane, vrrp: c.vrrp, cluster: c.cluster }),
    want: {
      node: { id: 'lb1', state_dir: '/var/lib/ha-agent', run_dir: '/run/ha-agent' },
      control: { socket: '/run/ha-agent/agent.sock' },
      dataplane: { driver: 'iptables', mark_mask: 0x3fff, mark_min: 0x200, mark_max: 0x3fff, cut_on_down: true, log_group: 5, count_interval: 1000, verify_schedule: '0 */5 * * * *' },
      vrrp: undefined, cluster: undefined,
    } },
  { name: 'ports: numbers, strings and ranges, sorted', yaml: config([farm({ ports: '["8000-8010", 443, "80", " 9000 - 9001 "]' })]), get: (c) => c.farms[0]!.ports,
    want: [{ from: 80, to: 80 }, { from: 443, to: 443 }, { from: 8000, to: 8010 }, { from: 9000, to: 9001 }] },
  { name: 'ports: duplicates and overlaps merged, adjacent kept apart', yaml: config([farm({ ports: '[443, 443, "70-90", 80, 91]' })]), get: (c) => c.farms[0]!.ports,
    want: [{ from: 70, to: 90 }, { from: 91, to: 91 }, { from: 443, to: 443 }] },
  { name: 'durations 250ms and 2s', yaml: check('{ interval: 2s, timeout: 250ms }'), get: ms, want: { interval: 2000, timeout: 250 } },
  { name: 'durations 1m and 1.5s', yaml: check('{ interval: 1m, timeout: 1.5s }'), get: ms, want: { interval: 60_000, timeout: 1500 } },
  { name: 'persistence ttl defaults to 120s', yaml: config([farm({ persistence: '{ type: srcip }' })]), get: (c) => c.farms[0]!.persistence, want: { type: 'srcip', ttl: 120_000 } },
  { name: 'hex marks: YAML number and quoted string', yaml: config([farm({ backends: `[${backend({ mark: '0x20c' })}, ${backend({ name: 'a1', ip: '10.0.0.2', mark: '"0x20D"' })}]` })]),
    get: (c) => c.farms[0]!.backends.map((b) => b.mark), want: [0x20c, 0x20d] },
  { name: 'hex mark mask and range', yaml: config([farm()], 'dataplane: { mark_mask: "0xff00", mark_min: 0x100, mark_max: "0xff00" }\n'),
    get: (c) => [c.dataplane.mark_mask, c.dataplane.mark_min, c.dataplane.mark_max], want: [0xff00, 0x100, 0xff00] },
  { name: 'same VIP and port, different protocol', yaml: config([farm({ ports: '[53]' }), farm({ name: 'dns-udp', ports: '[53]', protocol: 'udp' })]),
    get: (c) => c.farms.map((f) => f.protocol), want: ['tcp', 'udp'] },
  { name: 'same VIP, disjoint ports', yaml: config([farm({ ports: '["8000-8010"]' }), farm({ name: 'web', ports: '[8011]' })]), get: (c) => c.farms.length, want: 2 },
  { name: 'http check defaults', yaml: check('{ type: http }'), get: (c) => c.farms[0]!.check,
    want: { type: 'http', interval: 2000, timeout: 1000, rise: 2, fall: 3, method: 'GET', path: '/', expect_status: [{ from: 200, to: 399 }], tls: { verify: false } } },
  { name: 'http expect_status list and body', yaml: check('{ type: https, expect_status: [200, "301-302"], expect_body: "^ok$" }'),
    get: (c) => { const k = c.farms[0]!.check; return k.type === 'https' ? [k.expect_status, k.expect_body] : k.type; },
    want: [[{ from: 200, to: 200 }, { from: 301, to: 302 }], '^ok$'] },
  { name: 'exec command', yaml: check('{ type: exec, command: [check_tcp, -H, "{ip}", -p, "{port}"] }'),
    get: (c) => { const k = c.farms[0]!.check; return k.type === 'exec' ? k.command : k.type; }, want: ['check_tcp', '-H', '{ip}', '-p', '{port}'] },
  { name: 'snat with an address', yaml: config([farm({ mode: 'snat', snat_source: '192.0.2.1' })]), get: (c) => [c.farms[0]!.mode, c.farms[0]!.snat_source], want: ['snat', '192.0.2.1'] },
  { name: 'vrrp defaults and sub-second advert_int', yaml: config([farm()], vrrp({ advert_int: '250ms', unicast_src: '10.0.0.1', unicast_peers: '[10.0.0.2]' })),
    get: (c) => c.vrrp,
    want: { interface: 'eth0', virtual_router_id: 51, priority: 150, advert_int: 250, unicast_src: '10.0.0.1', unicast_peers: ['10.0.0.2'], preempt: true,
      extra_addresses: [], keepalived: { mode: 'spawn', binary: 'keepalived' } } },
  { name: 'cluster defaults', yaml: config([farm()], 'cluster: { redis: "rediss://user:pw@redis.example:6380/2" }\n'), get: (c) => c.cluster,
    want: { redis: 'rediss://user:pw@redis.example:6380/2', name: 'default', key_prefix: 'ha-agent', health_policy: 'local', heartbeat: 1000, heartbeat_ttl: 5000 } },
  { name: 'a multi-port backend probed on check.port', yaml: config([farm({ ports: '[80, 443]', check: '{ port: 80 }', backends: `[${backend({ port: undefined })}]` })]),
    get: (c) => [c.farms[0]!.backends[0]!.port, c.farms[0]!.check.port], want: [undefined, 80] },
  { name: 'a multi-port backend probed on its own check_port', yaml: config([farm({ ports: '[80, 443]', backends: `[${backend({ port: undefined, check_port: '8081' })}]` })]),
    get: (c) => [c.farms[0]!.backends[0]!.port, c.farms[0]!.backends[0]!.check_port], want: [undefined, 8081] },
  { name: 'no farms at all', yaml: 'node: { id: lb1 }\n', get: (c) => c.farms, want: [] },
  // --- IPv6, protocols, helpers
  { name: 'IPv6 VIP and backends, written in their canonical form', yaml: config([farm({ vip: '"FD00:1:0:0::100"', backends: `[${backend({ ip: '"fd00:2:0::11"' })}]` })]),
    get: (c) => [c.farms[0]!.vip, c.farms[0]!.backends[0]!.ip], want: ['fd00:1::100', 'fd00:2::11'] },
  { name: 'protocol all: no ports, backends without a port', yaml: config([farm({ protocol: 'all', ports: undefined, check: '{ type: none }', backends: `[${backend({ port: undefined })}]` })]),
    get: (c) => [c.farms[0]!.protocol, c.farms[0]!.ports], want: ['all', []] },
  { name: 'sctp farm', yaml: config([farm({ protocol: 'sctp', ports: '[2905, "3868-3870"]' })]),
    get: (c) => c.farms[0]!.protocol, want: 'sctp' },
  { name: 'helpers on their protocols', yaml: config([farm({ helper: 'ftp', ports: '[21]' }), farm({ name: 'tftp', protocol: 'udp', ports: '[69]', helper: 'tftp' }), farm({ name: 'sip', protocol: 'udp', ports: '[5060]', helper: 'sip' })]),
    get: (c) => c.farms.map((f) => f.helper), want: ['ftp', 'tftp', 'sip'] },
  { name: 'an IPv4 and an IPv6 farm on one node, with VRRP by multicast', yaml: config([farm(), farm({ name: 'app6', vip: '"fd00::10"', backends: `[${backend({ ip: '"fd00:1::1"' })}]` })], vrrp()),
    get: (c) => c.farms.map((f) => f.vip), want: ['192.0.2.10', 'fd00::10'] },
];
