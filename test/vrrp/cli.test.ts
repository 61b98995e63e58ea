// End to end through the CLI: check-config rejects bad vrrp / conntrackd sections with
// `path: message` lines, and `ha-agent keepalived` prints the config the agent would write.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoPath } from '../support/repo.js';
import { KEEPALIVED_CASES } from '../render/keepalived-cases.js';

const CLI = repoPath('dist/agent/cli/ha-agent.js');
const run = (...args: string[]) => execa(process.execPath, [CLI, ...args], { reject: false, timeout: 20_000 });

const HEAD = `node: { id: lb1 }
farms: [{ name: app, vip: 10.0.0.100, ports: [80], backends: [{ name: a0, ip: 10.0.1.1, port: 80 }] }]
`;
const vrrp = (extra: string) => `${HEAD}vrrp: { interface: eth0, virtual_router_id: 51, priority: 150${extra} }\n`;

const BAD: [string, string, string[]][] = [
  ['vrid 0', vrrp('').replace('virtual_router_id: 51', 'virtual_router_id: 0'), ['vrrp.virtual_router_id: 0 is outside 1-255']],
  ['vrid 256', vrrp('').replace('virtual_router_id: 51', 'virtual_router_id: 256'), ['vrrp.virtual_router_id: 256 is outside 1-255']],
  ['priority 0', vrrp('').replace('priority: 150', 'priority: 0'), ['vrrp.priority: 0 is outside 1-254']],
  ['priority 255 (address owner)', vrrp('').replace('priority: 150', 'priority: 255'), ['vrrp.priority: 255 is outside 1-254']],
  ['advert_int 5ms', vrrp(', advert_int: 5ms'), ['vrrp.advert_int: 5ms is below the VRRPv3 minimum of 10ms']],
  ['advert_int 105ms', vrrp(', advert_int: 105ms'), ['vrrp.advert_int: 105ms is not a multiple of 10ms (VRRPv3 counts in centiseconds)']],
  ['a peer equal to unicast_src', vrrp(', unicast_src: 10.0.0.1, unicast_peers: [10.0.0.1]'),
    ["vrrp.unicast_peers[0]: 10.0.0.1 is this node's own unicast_src; list only the other nodes"]],
  ['preempt_delay with preempt: false', vrrp(', preempt: false, preempt_delay: 5s'),
    ['vrrp.preempt_delay: preempt_delay has no effect with preempt: false; remove one of them']],
  ['preempt_delay above 1000s', vrrp(', preempt_delay: 20m'), ["vrrp.preempt_delay: 20m is above keepalived's maximum of 1000s"]],
  ['garp_master_delay in milliseconds', vrrp(', garp_master_delay: 500ms'),
    ['vrrp.garp_master_delay: 500ms is not a whole number of seconds (keepalived counts garp_master_delay in seconds)']],
  ['an extra address that is a farm VIP', vrrp(', extra_addresses: [{ address: 10.0.0.100/24, interface: eth1 }]'),
    ['vrrp.extra_addresses[0].address: 10.0.0.100 is already a farm VIP; farm VIPs move with VRRP without being listed']],
  ['unicast_src that is a VIP', vrrp(', unicast_src: 10.0.0.100, unicast_peers: [10.0.0.2]'),
    ['vrrp.unicast_src: 10.0.0.100 moves with VRRP; use an address of this node that never moves']],
  ['run_dir with a blank', vrrp('').replace('node: { id: lb1 }', 'node: { id: lb1, run_dir: "/run/ha agent" }'),
    ['node.run_dir: with vrrp, run_dir must not contain blanks, quotes or backslashes (keepalived reads paths in it as script arguments)']],
  ['conntrackd without vrrp', `${HEAD}conntrackd: { interface: eth1, local_address: 10.0.1.2, peer_address: 10.0.1.3 }\n`,
    ['conntrackd: connection sync follows VRRP state; it needs a vrrp section']],
  ['conntrackd peer equal to local', `${vrrp('')}conntrackd: { interface: eth1, local_address: 10.0.1.2, peer_address: 10.0.1.2 }\n`,
    ["conntrackd.peer_address: 10.0.1.2 is this node's own local_address; give the peer's"]],
  ['conntrackd unknown key', `${vrrp('')}conntrackd: { interface: eth1, local_address: 10.0.1.2, peer_address: 10.0.1.3, mode: daemon }\n`,
    ['conntrackd.mode: "daemon" is not one of spawn, systemd, external']],
];

let dir = '';
before(async () => { dir = await mkdtemp(join(tmpdir(), 'ha-vrrp-cli-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

describe('check-config: vrrp and conntrackd sections', () => {
  BAD.forEach(([name, yaml, errors], i) => {
    it(`rejects ${name}`, async () => {
      const file = join(dir, `bad-${i}.yaml`);
      await writeFile(file, yaml);
      const r = await run('check-config', file);
      assert.equal(r.exitCode, 2, String(r.stderr));
      assert.deepEqual(String(r.stderr).trim().split('\n'), errors);
    });
  });

  it('accepts a pair config with conntrackd', async () => {
    const file = join(dir, 'good.yaml');
    await writeFile(file, `${vrrp(', unicast_src: 10.0.0.1, unicast_peers: [10.0.0.2], preempt_delay: 2s')}conntrackd: { interface: eth1, local_address: 10.0.1.2, peer_address: 10.0.1.3 }\n`);
    const r = await run('check-config', file);
    assert.equal(r.exitCode, 0, String(r.stderr));
  });
});

describe('ha-agent keepalived --config', () => {
  it('prints the keepalived.conf the agent would write (the golden file)', async () => {
    const file = join(dir, 'unicast.yaml');
    await writeFile(file, KEEPALIVED_CASES['unicast-subsecond']!);
    const r = await run('keepalived', '--config', file);
    assert.equal(r.exitCode, 0, String(r.stderr));
    assert.equal(`${String(r.stdout)}\n`, await readFile(repoPath('test/golden/keepalived/unicast-subsecond.conf'), 'utf8'));
  });

  it('exits 2 with a clear message when there is no vrrp section', async () => {
    const file = join(dir, 'novrrp.yaml');
    await writeFile(file, HEAD);
    const r = await run('keepalived', '--config', file);
    assert.equal(r.exitCode, 2);
    assert.equal(String(r.stdout), '');
    assert.match(String(r.stderr), /no vrrp section/);
  });

  it('exits 2 with the errors on a bad config', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, vrrp('').replace('priority: 150', 'priority: 255'));
    const r = await run('keepalived', '--config', file);
    assert.equal(r.exitCode, 2);
    assert.match(String(r.stderr), /vrrp\.priority: 255 is outside 1-254/);
  });
});
