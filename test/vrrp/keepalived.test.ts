// The keepalived manager with a fake spawner and runner: what it writes, runs and reloads in each
// mode, and how FIFO lines become the daemon's VRRP state.

import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { constants, openSync, writeSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecaRunner } from '../../agent/apply/runner.js';
import { silentLogger } from '../../agent/log.js';
import { keepalivedArgs, startKeepalived, type KeepalivedService } from '../../agent/vrrp/keepalived.js';
import { vrrpPaths } from '../../agent/vrrp/paths.js';
import { VrrpView } from '../../agent/vrrp/state.js';
import { parseConfigText } from '../../config/load.js';
import type { Config, VrrpConfig } from '../../config/schema.js';
import { waitFor } from '../netns/poll.js';
import { fakeSpawner, MixedRunner } from './fakes.js';

let dir = '';
let service: KeepalivedService | undefined;
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ha-keepalived-mgr-')); });
afterEach(async () => {
  await service?.stop();
  service = undefined;
  await rm(dir, { recursive: true, force: true });
});

function config(mode: string, priority = 150): Config & { vrrp: VrrpConfig } {
  const r = parseConfigText(`node: { id: lb1, state_dir: ${dir}/state, run_dir: ${dir}/run }
farms: [{ name: app, vip: 10.1.0.100, ports: [80], backends: [{ name: b1, ip: 10.2.0.11, port: 80 }] }]
vrrp: { interface: front, virtual_router_id: 51, priority: ${priority}, keepalived: { mode: ${mode}, config_path: ${dir}/etc/keepalived.conf } }
`);
  if (!r.ok || !r.config.vrrp) throw new Error(JSON.stringify(r));
  return { ...r.config, vrrp: r.config.vrrp };
}

function writeFifo(path: string, text: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  writeSync(fd, text);
  closeSync(fd);
}

describe('keepalived manager', () => {
  it('spawn mode: writes keepalived.conf in run_dir, runs keepalived in the foreground, follows the FIFO', async () => {
    const runner = new MixedRunner();
    const { spawn, children } = fakeSpawner();
    const view = new VrrpView(true);
    const c = config('spawn');
    service = await startKeepalived(c, { runner, logger: silentLogger, view, spawn });
    const paths = vrrpPaths(c);
    await waitFor(() => children.length === 1, { timeoutMs: 2000, what: 'keepalived spawned' });
    assert.equal(children[0]!.command, 'keepalived');
    assert.deepEqual(children[0]!.args, keepalivedArgs(paths));
    assert.deepEqual(keepalivedArgs(paths).slice(0, 3), ['-n', '-l', '-D']);
    assert.match(readFileSync(paths.keepalivedConf, 'utf8'), /vrrp_instance ha_agent \{/);
    assert.equal(existsSync(paths.heartbeat), true);

    writeFifo(paths.notifyFifo, 'INSTANCE "ha_agent" BACKUP 150\ngarbage\nINSTANCE "other" MASTER 1\nINSTANCE "ha_agent" MAS');
    await waitFor(() => view.state === 'BACKUP', { timeoutMs: 2000, what: 'BACKUP' });
    writeFifo(paths.notifyFifo, 'TER 150\n');
    await waitFor(() => view.state === 'MASTER', { timeoutMs: 2000, what: 'MASTER' });

    // An unchanged config is not reloaded; a changed one is, by SIGHUP, without a restart.
    await service.reconfigure(c);
    assert.deepEqual(children[0]!.signals, []);
    await service.reconfigure(config('spawn', 120));
    assert.deepEqual(children[0]!.signals, ['SIGHUP']);
    assert.match(readFileSync(paths.keepalivedConf, 'utf8'), /priority 120/);

    // keepalived dying: state STOP, and a new one is started.
    children[0]!.exit(1);
    assert.equal(view.state, 'STOP');
    await waitFor(() => children.length === 2, { timeoutMs: 3000, what: 'keepalived restarted' });
    assert.deepEqual(runner.fake.calls, [], 'no systemctl in spawn mode');
  });

  it('spawn mode ignores lines an earlier keepalived left in the FIFO', async () => {
    const runner = new MixedRunner();
    const { spawn } = fakeSpawner();
    const view = new VrrpView(true);
    const c = config('spawn');
    const paths = vrrpPaths(c);
    // Leave a line in the pipe while a writer keeps it open, as a dying keepalived does.
    await new ExecaRunner().run('mkdir', ['-p', join(dir, 'run')]);
    await new ExecaRunner().run('mkfifo', [paths.notifyFifo]);
    const holder = openSync(paths.notifyFifo, constants.O_RDWR | constants.O_NONBLOCK);
    writeSync(holder, 'INSTANCE "ha_agent" STOP 150\n');
    try {
      service = await startKeepalived(c, { runner, logger: silentLogger, view, spawn });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(view.state, 'UNKNOWN');
      writeSync(holder, 'INSTANCE "ha_agent" BACKUP 150\n');
      await waitFor(() => view.state === 'BACKUP', { timeoutMs: 2000, what: 'BACKUP' });
    } finally {
      closeSync(holder);
    }
  });

  it('systemd mode: writes config_path and reloads the unit at start and only on change', async () => {
    const runner = new MixedRunner();
    const { spawn, children } = fakeSpawner();
    const c = config('systemd');
    service = await startKeepalived(c, { runner, logger: silentLogger, view: new VrrpView(true), spawn });
    assert.match(readFileSync(join(dir, 'etc', 'keepalived.conf'), 'utf8'), /priority 150/);
    const reloads = () => runner.fake.calls.filter((x) => x.command === 'systemctl' && x.args.join(' ') === 'reload keepalived').length;
    assert.equal(reloads(), 1);
    await service.reconfigure(c);
    assert.equal(reloads(), 1, 'unchanged: no reload');
    await service.reconfigure(config('systemd', 99));
    assert.equal(reloads(), 2);
    assert.equal(children.length, 0, 'systemd runs keepalived, not the agent');
  });

  it('external mode: writes nothing, runs nothing, follows any instance on the FIFO', async () => {
    const runner = new MixedRunner();
    const { spawn, children } = fakeSpawner();
    const view = new VrrpView(true);
    const c = config('external');
    service = await startKeepalived(c, { runner, logger: silentLogger, view, spawn });
    writeFifo(vrrpPaths(c).notifyFifo, 'INSTANCE "VI_1" MASTER 100\n');
    await waitFor(() => view.state === 'MASTER', { timeoutMs: 2000, what: 'MASTER' });
    assert.equal(existsSync(join(dir, 'etc', 'keepalived.conf')), false);
    assert.equal(children.length, 0);
    assert.deepEqual(runner.fake.calls, []);
  });
});
