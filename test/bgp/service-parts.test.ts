// The pure and faked parts of the BGP speaker: which VIPs are announced, where the files go, and
// what the liveness refresher hands the kernel.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { announcedVips } from '../../agent/bgp/announce.js';
import { bgpPaths } from '../../agent/bgp/paths.js';
import { startAlive } from '../../agent/bgp/alive.js';
import { staticPlan } from '../../agent/plan/static.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { createLogger } from '../../agent/log.js';

function load(yaml: string): Config {
  const result = parseConfigText(yaml);
  if (!result.ok) throw new Error(result.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return result.config;
}

const CONFIG = load(`node: { id: lb1, run_dir: /run/lb1 }
farms:
  - { name: web, vip: 10.60.0.100, ports: [80], backends: [{ name: w0, ip: 10.0.0.1, port: 80 }] }
  - { name: web-tls, vip: 10.60.0.100, ports: [443], backends: [{ name: w0, ip: 10.0.0.1, port: 443 }] }
  - { name: dns, vip: 10.60.0.53, ports: [53], protocol: udp, backends: [{ name: n0, ip: 10.0.0.2, port: 53 }] }
bgp: { asn: 65001, peers: [{ address: 10.51.0.1, asn: 65000 }] }
`);

const ANNOUNCE_CASES: { name: string; down: string[]; drained: boolean; want: string[] }[] = [
  { name: 'every VIP with a usable backend, once, sorted', down: [], drained: false, want: ['10.60.0.100', '10.60.0.53'] },
  { name: 'a farm with nothing usable: its VIP is not announced', down: ['dns/n0'], drained: false, want: ['10.60.0.100'] },
  { name: 'a VIP stays while another farm on it still serves', down: ['web/w0'], drained: false, want: ['10.60.0.100', '10.60.0.53'] },
  { name: 'drained: nothing', down: [], drained: true, want: [] },
];
for (const c of ANNOUNCE_CASES) {
  test(`announced: ${c.name}`, () => assert.deepEqual(announcedVips(staticPlan(CONFIG, new Set(c.down)), c.drained), c.want));
}

test('paths: spawn mode keeps everything in run_dir; external mode uses the operator\'s socket and include path', () => {
  assert.deepEqual(bgpPaths(CONFIG), {
    birdConf: '/run/lb1/bird.conf', socket: '/run/lb1/bird.ctl', pid: '/run/lb1/bird.pid',
    include: { ipv4: '/run/lb1/bird-vips4.conf', ipv6: '/run/lb1/bird-vips6.conf' },
  });
  const external = load(`node: { id: lb1 }\nbgp: { asn: 65001, peers: [{ address: 10.51.0.1, asn: 65000 }], speaker: { mode: external, include_path: /etc/bird/ha.conf } }\n`);
  const paths = bgpPaths(external);
  assert.equal(paths.socket, '/run/bird/bird.ctl');
  assert.deepEqual(paths.include, { ipv4: '/etc/bird/ha.conf', ipv6: '/etc/bird/ha6.conf' });
});

test('alive: refreshes the prefix with a one-second lifetime; stop keeps it forever or deletes it', async () => {
  const runner = new FakeRunner();
  const alive = startAlive(runner, createLogger('silent'), ['ipv4', 'ipv6'], 60_000);
  assert.equal(await alive.refresh(), true);
  assert.deepEqual(runner.calls[0], {
    command: 'ip', args: ['-batch', '-'],
    input: 'address replace 192.0.0.8/31 dev lo valid_lft 1 preferred_lft 1\naddress replace 100::8/127 dev lo valid_lft 1 preferred_lft 1\n',
  });
  await alive.stop('keep');
  assert.match(runner.calls[1]!.input!, /192\.0\.0\.8\/31 dev lo valid_lft forever preferred_lft forever/);
  const other = startAlive(runner, createLogger('silent'), ['ipv4'], 60_000);
  await other.stop('withdraw');
  assert.deepEqual(runner.calls[2], { command: 'ip', args: ['-force', '-batch', '-'], input: 'address del 192.0.0.8/31 dev lo\n' });
});

test('alive: a failed refresh says so (the VIPs are about to be withdrawn)', async () => {
  const runner = new FakeRunner(() => ({ exitCode: 2, stderr: 'RTNETLINK answers: Operation not permitted' }));
  const alive = startAlive(runner, createLogger('silent'), ['ipv4'], 60_000);
  assert.equal(await alive.refresh(), false);
  await alive.stop('withdraw');
});
