// The bgp section and the direct-return modes in config.yaml, as check-config reports them: a
// table where `want: []` is a config that must load and anything else the exact lines it must print;
// and the advice (warnings, not errors) it gives for several LBs behind ECMP.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issueLines, parseConfigText } from '../../config/load.js';
import { bgpAdvice } from '../../config/bgp.js';

const NODE = 'node: { id: lb1 }\n';
const FARM = (extra = '', backend = '{ name: a0, ip: 10.0.0.1, port: 80 }') => `farms:
  - name: app
    vip: 10.60.0.100
    ports: [80]
${extra}    backends: [${backend}]
`;
const BGP = (extra = '') => `bgp:
  asn: 65001
  peers: [{ address: 10.51.0.1, asn: 65000 }]
${extra}`;

const CASES: { name: string; yaml: string; want: string[] }[] = [
  { name: 'the SPEC example', want: [], yaml: `${NODE}${FARM()}bgp:
  asn: 65001
  router_id: 10.51.0.11
  peers:
    - { address: 10.51.0.1, asn: 65000, bfd: true }
  bfd: { interval: 100ms, multiplier: 3 }
  speaker: { mode: spawn }
` },
  { name: 'external speaker with its socket and include file, IPv6 peer', want: [],
    yaml: `${NODE}${FARM()}bgp:\n  asn: 4200000001\n  peers: [{ address: "fd00:51::1", asn: 65000, bfd: false, multihop: 2 }]\n  speaker: { mode: external, socket: /run/bird/bird.ctl, include_path: /etc/bird/vips.conf }\n` },
  { name: 'hash-5tuple is allowed in dnat mode', want: [], yaml: `${NODE}${FARM('    algorithm: hash-5tuple\n')}` },
  { name: 'no peers, AS 0, a bad peer address, BFD too fast', yaml: `${NODE}bgp:\n  asn: 0\n  peers: []\n  bfd: { interval: 5ms, multiplier: 300 }\n`,
    want: [
      'bgp.asn: 0 is outside 1-4294967294',
      'bgp.peers: bgp needs at least one peer',
      'bgp.bfd.interval: 5ms is below 10ms, faster than BFD runs reliably in software',
      'bgp.bfd.multiplier: 300 is outside 1-255',
    ] },
  { name: 'a peer twice', yaml: `${NODE}bgp:\n  asn: 65001\n  peers: [{ address: 10.51.0.1, asn: 65000 }, { address: 10.51.0.1, asn: 65002 }]\n`,
    want: ['bgp.peers[1].address: duplicate peer 10.51.0.1 (also peers[0])'] },
  { name: 'a peer that is no address', yaml: `${NODE}bgp:\n  asn: 65001\n  peers: [{ address: 10.51.0.300, asn: 65000 }]\n`,
    want: ['bgp.peers[0].address: "10.51.0.300" is not an IPv4 address'] },
  { name: 'external-only keys in spawn mode', yaml: `${NODE}${BGP('  speaker: { mode: spawn, socket: /run/bird/bird.ctl }\n')}`,
    want: ["bgp.speaker: socket and include_path are for mode external (the operator's BIRD); in spawn mode the agent keeps its BIRD's files in node.run_dir"] },
  { name: 'vrrp and bgp for the same VIP', yaml: `${NODE}${FARM()}vrrp: { interface: eth0, virtual_router_id: 51, priority: 100 }\n${BGP()}`,
    want: ['bgp: farms[0].vip 10.60.0.100 would be both moved by VRRP and announced with BGP; a node\'s VIPs are managed one way: remove the vrrp section (active-active behind ECMP) or the bgp section (an active-backup pair)'] },
  { name: 'dsr says what it needs', yaml: `${NODE}${FARM('    mode: dsr\n    algorithm: weight\n    persistence: { type: srcip }\n    log: true\n', '{ name: a0, ip: 10.0.0.1, port: 8080, max_conns: 5 }')}`,
    want: [
      'farms[0].algorithm: mode dsr places every packet on its own (no connection tracking on the LB), so it needs a hash: hash-5tuple (consistent on every LB), or hash-srcip (one client, one backend); weight would send a flow\'s packets to different backends',
      'farms[0].persistence: mode dsr does not track connections on the LB, and the hash already keeps a flow on its backend; remove persistence',
      'farms[0].log: mode dsr does not track connections on the LB, so it cannot log new connections; log on the backends',
      'farms[0].backends[0].max_conns: mode dsr does not track connections on the LB, so it cannot count a backend\'s connections; remove max_conns',
      'farms[0].backends[0].port: mode dsr does not rewrite the packet, so the backend serves the VIP\'s own port; remove port (the backend must listen on 80 at the VIP)',
    ] },
  { name: 'tunnel with a hash, the VIP port, helper and limits', yaml: `${NODE}${FARM('    mode: tunnel\n    algorithm: hash-5tuple\n    helper: ftp\n    limits: { new_per_second: 10 }\n', '{ name: a0, ip: 10.0.0.1, port: 80 }')}`,
    want: [
      'farms[0].helper: mode tunnel does not track connections on the LB, so the ftp helper cannot follow its control connections; use dnat or snat',
      'farms[0].limits: mode tunnel does not track connections on the LB, so it can neither tell new connections apart nor count them; remove limits',
    ] },
  { name: 'an unknown mode names the four', yaml: `${NODE}${FARM('    mode: route\n')}`,
    want: ['farms[0].mode: "route" is not one of dnat, snat, dsr, tunnel'] },
];

for (const c of CASES) {
  test(c.name, () => {
    const result = parseConfigText(c.yaml);
    assert.deepEqual(result.ok ? [] : issueLines(result.issues), c.want);
  });
}

test('defaults: BFD on each peer at 100ms x 3, BIRD spawned, port 179', () => {
  const result = parseConfigText(`${NODE}${BGP()}`);
  assert.ok(result.ok);
  const bgp = result.config.bgp!;
  assert.deepEqual(bgp.peers[0], { address: '10.51.0.1', asn: 65000, bfd: true, port: 179 });
  assert.deepEqual(bgp.bfd, { interval: 100, multiplier: 3 });
  assert.deepEqual(bgp.speaker, { mode: 'spawn', binary: 'bird', birdc: 'birdc' });
});

const ADVICE_CASES: { name: string; yaml: string; want: RegExp[] }[] = [
  { name: 'no bgp: nothing', yaml: `${NODE}${FARM('    algorithm: hash-5tuple\n')}`, want: [] },
  { name: 'bgp without hash-5tuple farms: nothing', yaml: `${NODE}${FARM()}${BGP()}`, want: [] },
  { name: 'bgp, hash-5tuple, standalone: add a cluster with quorum', yaml: `${NODE}${FARM('    algorithm: hash-5tuple\n')}${BGP()}`,
    want: [/^cluster: bgp with hash-5tuple farms \(app\): every LB must build the same bucket table .*add cluster: \{ redis: \.\.\., health_policy: quorum \}$/] },
  { name: 'bgp, hash-5tuple, clustered with the local policy: set quorum',
    yaml: `${NODE}${FARM('    algorithm: hash-5tuple\n')}${BGP()}cluster: { redis: "redis://127.0.0.1:6379/0" }\n`,
    want: [/^cluster\.health_policy: bgp with hash-5tuple farms \(app\): .*; it is local, set it to quorum$/] },
  { name: 'bgp, hash-5tuple, quorum: nothing',
    yaml: `${NODE}${FARM('    algorithm: hash-5tuple\n')}${BGP()}cluster: { redis: "redis://127.0.0.1:6379/0", health_policy: quorum }\n`, want: [] },
];

for (const c of ADVICE_CASES) {
  test(`advice: ${c.name}`, () => {
    const result = parseConfigText(c.yaml);
    assert.ok(result.ok, result.ok ? '' : issueLines(result.issues).join('\n'));
    const advice = bgpAdvice(result.config);
    assert.equal(advice.length, c.want.length, advice.join('\n'));
    c.want.forEach((re, i) => assert.match(advice[i]!, re));
  });
}
