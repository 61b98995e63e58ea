// conntrackd driven by VRRP transitions (primary-backup.sh semantics), with a fake runner and spawner.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { silentLogger } from '../../agent/log.js';
import { startConntrackd, syncActions } from '../../agent/vrrp/conntrackd.js';
import { vrrpPaths } from '../../agent/vrrp/paths.js';
import { VrrpView, VRRP_STATES, type VrrpState } from '../../agent/vrrp/state.js';
import { parseConfigText } from '../../config/load.js';
import type { Config, ConntrackdConfig } from '../../config/schema.js';
import { waitFor } from '../netns/poll.js';
import { fakeSpawner } from './fakes.js';

const dir = mkdtempSync(join(tmpdir(), 'ha-conntrackd-mgr-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(): Config & { conntrackd: ConntrackdConfig } {
  const r = parseConfigText(`node: { id: lb1, run_dir: ${dir}/run }
farms: [{ name: app, vip: 10.1.0.100, ports: [80], backends: [{ name: b1, ip: 10.2.0.11, port: 80 }] }]
vrrp: { interface: front, virtual_router_id: 51, priority: 150 }
conntrackd: { interface: back, local_address: 10.2.0.1, peer_address: 10.2.0.2, external_cache: true }
`);
  if (!r.ok || !r.config.conntrackd) throw new Error(JSON.stringify(r));
  return { ...r.config, conntrackd: r.config.conntrackd };
}

describe('syncActions (primary-backup.sh)', () => {
  const table: [VrrpState, VrrpState, boolean, string[]][] = [
    ['BACKUP', 'MASTER', true, ['-c', '-f', '-R', '-B']],
    ['UNKNOWN', 'MASTER', false, ['-c', '-f', '-R', '-B']],
    ['UNKNOWN', 'BACKUP', true, ['-n']],
    ['MASTER', 'BACKUP', true, ['-t', '-n']],
    ['MASTER', 'BACKUP', false, ['-n']],
    ['MASTER', 'FAULT', true, ['-t']],
    ['MASTER', 'FAULT', false, []],
    ['BACKUP', 'FAULT', true, []],
    ['MASTER', 'STOP', true, []],
  ];
  for (const [from, to, cache, want] of table) {
    it(`${from} -> ${to}${cache ? ' (external cache)' : ''}: ${want.join(' ') || 'nothing'}`, () => assert.deepEqual(syncActions(from, to, cache), want));
  }
  it('is defined for every state', () => {
    for (const from of VRRP_STATES) for (const to of VRRP_STATES) assert.ok(Array.isArray(syncActions(from, to, true)));
  });
});

describe('conntrackd manager (spawn mode)', () => {
  it('clears a stale lock, runs conntrackd, and sends the requests of each transition in order', async () => {
    const c = config();
    const paths = vrrpPaths(c);
    mkdirSync(join(dir, 'run'), { recursive: true });
    writeFileSync(paths.conntrackdLock, '');
    // The first `-s` fails: no conntrackd answers, so the lock is stale. Later ones find the new one.
    let probes = 0;
    const runner = new FakeRunner((call) => (call.args.includes('-s') && probes++ === 0 ? { exitCode: 1 } : undefined));
    const { spawn, children } = fakeSpawner();
    const view = new VrrpView(true);
    const service = await startConntrackd(c, { runner, logger: silentLogger, view, spawn });
    try {
      await waitFor(() => children.length === 1, { timeoutMs: 2000, what: 'conntrackd spawned' });
      assert.equal(existsSync(paths.conntrackdLock), false, 'stale lock removed');
      assert.deepEqual(children[0]!.args, ['-C', paths.conntrackdConf]);
      assert.match(readFileSync(paths.conntrackdConf, 'utf8'), /IPv4_Destination_Address 10\.2\.0\.2/);
      runner.calls.length = 0;
      view.set('BACKUP');
      view.set('MASTER');
      view.set('BACKUP');
      await service.idle();
      assert.deepEqual(runner.calls.map((x) => x.args.join(' ')), [
        `-C ${paths.conntrackdConf} -n`,
        `-C ${paths.conntrackdConf} -c`, `-C ${paths.conntrackdConf} -f`, `-C ${paths.conntrackdConf} -R`, `-C ${paths.conntrackdConf} -B`,
        // The new MASTER drops the closed flows the peer synced in (a reused port would follow them).
        '-D -p tcp --state TIME_WAIT', '-D -p tcp --state CLOSE',
        `-C ${paths.conntrackdConf} -t`, `-C ${paths.conntrackdConf} -n`,
      ]);
      assert.deepEqual(runner.calls.filter((x) => x.args[0] === '-D').map((x) => x.command), ['conntrack', 'conntrack']);
    } finally {
      await service.stop();
    }
    assert.deepEqual(children[0]!.signals, ['SIGTERM']);
  });

  for (const [current, writes] of [['0', true], ['1', false]] as const) {
    it(`liberal TCP tracking for the node's own flows: ${current === '1' ? 'already on (e.g. /etc/sysctl.d), left alone' : 'off, turned on'} once conntrackd is up`, async () => {
      const c = config();
      mkdirSync(join(dir, 'run'), { recursive: true });
      const runner = new FakeRunner((call) => (call.command === 'sysctl' && call.args[0] === '-n' ? { stdout: `${current}\n` } : undefined));
      const { spawn } = fakeSpawner();
      const service = await startConntrackd(c, { runner, logger: silentLogger, view: new VrrpView(true), spawn });
      try {
        const sysctl = () => runner.calls.filter((x) => x.command === 'sysctl').map((x) => x.args.join(' '));
        await waitFor(() => sysctl().length > 0, { timeoutMs: 2000, what: 'the sysctl read' });
        await service.idle();
        assert.deepEqual(sysctl(), ['-n net.netfilter.nf_conntrack_tcp_be_liberal', ...(writes ? ['-q -w net.netfilter.nf_conntrack_tcp_be_liberal=1'] : [])]);
      } finally {
        await service.stop();
      }
    });
  }
});
