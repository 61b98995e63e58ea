// agentctl as a program against a control socket served by a fake API: output, exit codes, and
// one-line errors without stack traces.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, link, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { listenControl, type ControlSocket } from '../../agent/control/socket.js';
import { silentLogger } from '../../agent/log.js';
import { FakeApi, sampleStatus } from '../control/fakes.js';
import { tableRows } from '../control/table.js';
import { agentctlBin, spawnAgentctl } from '../support/agent.js';

describe('agentctl', () => {
  let dir: string;
  let path: string;
  let api: FakeApi;
  let control: ControlSocket;
  const run = (args: string[], opts: { socket?: string; user?: string } = {}) => spawnAgentctl(opts.socket ?? path, args, opts);
  const oneLine = (stderr: string, pattern: RegExp) => {
    assert.match(stderr.trimEnd(), pattern);
    assert.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agentctl-'));
    await chmod(dir, 0o755);
    path = join(dir, 'agent.sock');
    api = new FakeApi();
    control = await listenControl(api, { path, logger: silentLogger });
  });
  after(async () => {
    await control.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('status prints a plain table when stdout is not a TTY', async () => {
    const r = await run(['status']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /\x1b\[/);
    const rows = tableRows(r.stdout, 'web');
    for (const b of sampleStatus().farms[0]!.backends) {
      assert.deepEqual(rows.get(b.name)!.slice(0, 7), [b.name, `${b.ip}:${b.port}`, b.health, b.admin, String(b.weight), `${(b.share * 100).toFixed(1)}%`, b.mark]);
    }
  });

  it('status --json prints the status object', async () => {
    const r = await run(['status', '--json']);
    assert.equal(r.exitCode, 0);
    assert.deepEqual(JSON.parse(r.stdout), JSON.parse(JSON.stringify(sampleStatus())));
  });

  it('backend sets an admin state and says what happened (enable and enabled both work)', async () => {
    let r = await run(['backend', 'web', 'b1', 'drain']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, 'web/b1: enabled -> drain (applied in 3.5 ms; not in the chain)\n');
    r = await run(['backend', 'web', 'b1', 'enable']);
    assert.equal(r.stdout, 'web/b1: drain -> enabled (applied in 3.5 ms; in the chain, share 50.0%)\n');
    r = await run(['backend', 'web', 'b1', 'enabled', '--json']);
    assert.equal(JSON.parse(r.stdout).admin, 'enabled');
  });

  it('backend: an unknown farm is a one-line failure (exit 1); a bad verb is bad usage (exit 2)', async () => {
    const r = await run(['backend', 'nope', 'b1', 'drain']);
    assert.equal(r.exitCode, 1);
    oneLine(r.stderr, /^agentctl: unknown farm "nope" \(farms: web, dns\)$/);
    const v = await run(['backend', 'web', 'b1', 'off']);
    assert.equal(v.exitCode, 2);
    assert.match(v.stderr, /invalid for argument 'state'\. expected enable, drain or maintenance/);
    assert.equal((await run(['backend', 'web'])).exitCode, 2);
  });

  it('reload prints every config error and exits 1; a good reload exits 0 with a summary', async () => {
    api.reloadErrors = ['farms[0].vip: "10.0.0.300" is not an IPv4 address', 'farms[0].backends[1].weight: 0 is outside 1-1000'];
    const bad = await run(['reload']);
    assert.equal(bad.exitCode, 1);
    assert.equal(bad.stderr, 'farms[0].vip: "10.0.0.300" is not an IPv4 address\nfarms[0].backends[1].weight: 0 is outside 1-1000\n' +
      'agentctl: /etc/ha-agent/config.yaml has 2 errors; the running config is kept\n');
    api.reloadErrors = undefined;
    const good = await run(['reload']);
    assert.equal(good.exitCode, 0);
    assert.equal(good.stdout, 'config reloaded; 1 farm(s) re-applied: web\n');
  });

  it('rules prints the applied text and whether the kernel matches; drift exits 1', async () => {
    const r = await run(['rules']);
    assert.equal(r.exitCode, 1);
    assert.equal(r.stdout, '*mangle\nCOMMIT\n# the kernel DIFFERS from these iptables rules (1):\n#   mangle/HAM-web: 1 rules in the kernel, 2 applied\n');
  });

  it('events prints the last N; --follow streams until interrupted', async () => {
    api.emit({ at: 'T1', type: 'transition', farm: 'web', backend: 'b2', from: 'up', to: 'down', reason: '3 consecutive failures: refused' });
    api.emit({ at: 'T2', type: 'apply-error', error: 'iptables-restore exited 4' });
    const r = await run(['events', '-n', '2']);
    assert.equal(r.stdout, 'T1  web/b2  health up -> down: 3 consecutive failures: refused\nT2  apply failed: iptables-restore exited 4\n');
    const json = await run(['events', '-n', '1', '--json']);
    assert.deepEqual(JSON.parse(json.stdout), { at: 'T2', type: 'apply-error', error: 'iptables-restore exited 4' });
    assert.equal((await run(['events', '-n', 'x'])).exitCode, 2);

    const follower = run(['events', '-n', '1', '--follow']);
    const lines: string[] = [];
    follower.stdout!.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
    const until = async (n: number) => {
      for (let i = 0; i < 100 && lines.length < n; i++) await new Promise((res) => setTimeout(res, 20));
    };
    await until(1);
    while (api.followers === 0) await new Promise((res) => setTimeout(res, 10));
    api.emit({ at: 'T3', type: 'admin', farm: 'web', backend: 'b3', from: 'enabled', to: 'drain' });
    await until(2);
    follower.kill('SIGINT');
    const done = await follower;
    assert.equal(done.exitCode, 0);
    assert.deepEqual(lines, ['T2  apply failed: iptables-restore exited 4', 'T3  web/b3  admin enabled -> drain']);
  });

  it('says the agent is not running when there is no socket, or nothing answers on it', async () => {
    const missing = await run(['status'], { socket: join(dir, 'missing.sock') });
    assert.equal(missing.exitCode, 1);
    oneLine(missing.stderr, /^agentctl: ha-agent is not running: no control socket at .*missing\.sock/);
    const server = createServer();
    const live = join(dir, 'tmp.sock');
    await new Promise<void>((r) => server.listen(live, r));
    await link(live, join(dir, 'stale.sock'));
    await new Promise<void>((r) => server.close(() => r()));
    const stale = await run(['status'], { socket: join(dir, 'stale.sock') });
    assert.equal(stale.exitCode, 1);
    oneLine(stale.stderr, /^agentctl: ha-agent is not running: nothing answers on .*stale\.sock$/);
  });

  it('a user outside the socket group gets a permission error and changes nothing', { skip: process.getuid?.() === 0 ? false : 'needs root to run as nobody' }, async () => {
    const before = api.calls.length;
    const r = await run(['backend', 'web', 'b1', 'maintenance'], { user: 'nobody' });
    assert.equal(r.exitCode, 1);
    oneLine(r.stderr, /^agentctl: permission denied on .*agent\.sock: run agentctl as root or as a member of the socket's group/);
    assert.equal(api.calls.length, before);
  });

  it('reports an agent that answers nonsense', async () => {
    const odd = join(dir, 'odd.sock');
    const server = createServer((s) => s.end('hello\n'));
    await new Promise<void>((r) => server.listen(odd, r));
    try {
      const r = await run(['status'], { socket: odd });
      assert.equal(r.exitCode, 1);
      oneLine(r.stderr, /^agentctl: the agent answered something that is not JSON: hello$/);
    } finally {
      server.close();
    }
  });

  it('exits 2 on bad usage and 0 on --help', async () => {
    assert.equal((await execa(process.execPath, [agentctlBin], { reject: false })).exitCode, 2);
    assert.equal((await run(['frobnicate'])).exitCode, 2);
    assert.equal((await run(['status', '--bogus'])).exitCode, 2);
    const help = await run(['--help']);
    assert.equal(help.exitCode, 0);
    assert.match(help.stdout, /--socket <path>.*default: "\/run\/ha-agent\/agent\.sock"/);
  });
});
