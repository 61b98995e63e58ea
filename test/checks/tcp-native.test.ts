// The native tcp check engine: its batch bookkeeping against a fake addon (the process boundary),
// then the real addon (dist/native/tcp_check.node) against sockets on loopback: half-open checks
// the backend never accepts, IPv6, bad addresses, no fd left behind, idle processes exit, and a
// throwing handler surfacing as an uncaught exception. In CI the addon must be built.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createTcpDirect, promiseProbe, tcpDirect, tcpProbe } from '../../checks/tcp.js';
import { loadTcpCheckAddon, NativeChecks, TCP_CHECK_ADDON, type NativeCheck, type TcpCheckAddon } from '../../checks/tcp-native.js';
import type { CheckTarget } from '../../checks/types.js';
import { blackholePort, closedPort, sleep, tcpServer } from './servers.js';

const run = promisify(execFile);
const target = (ip: string, port: number): CheckTarget => ({ farm: 'app', backend: 'app0', ip, port });

interface Check extends NativeCheck { name: string }
const check = (name: string): Check => ({ name, fd: -1, slot: -1 });

/** Records what the engine asks of the addon; results are pushed by `finish`. */
function fakeAddon() {
  let deliver: ((count: number) => void) | undefined;
  let results: Int32Array | undefined;
  let nextFd = 100;
  const open = new Map<number, number>(); // fd -> token
  const aborted: number[] = [];
  const addon: TcpCheckAddon = {
    BATCH: 4,
    init(onResults, buffer) {
      deliver = onResults;
      results = buffer;
      return 0;
    },
    start(token, ip) {
      if (ip === 'bad') return -22;
      const fd = nextFd++;
      open.set(fd, token);
      return fd;
    },
    abort(fd) {
      aborted.push(fd);
      open.delete(fd);
      return 0;
    },
    inflight: () => open.size,
  };
  /** The engine reports these fds done, in one batch, with these statuses. */
  const finish = (done: Array<[fd: number, status: number]>): void => {
    done.forEach(([fd, status], i) => {
      results![2 * i] = open.get(fd)!;
      results![2 * i + 1] = status;
      open.delete(fd);
    });
    deliver!(done.length);
  };
  return { addon, finish, aborted, open };
}

describe('NativeChecks (fake addon)', () => {
  it('hands each result to its own check and reuses slots once they end', () => {
    const { addon, finish } = fakeAddon();
    const seen: Array<[string, number]> = [];
    const engine = new NativeChecks<Check>(addon, (c, status) => seen.push([c.name, status]));
    const a = check('a');
    const b = check('b');
    assert.equal(engine.start(a, '10.0.0.1', 80), 0);
    assert.equal(engine.start(b, '10.0.0.2', 80), 0);
    assert.deepEqual([a.slot, b.slot], [0, 1]);
    finish([[b.fd, -111], [a.fd, 0]]);
    assert.deepEqual(seen, [['b', -111], ['a', 0]]);
    assert.deepEqual([a.fd, b.fd, a.slot, b.slot], [-1, -1, -1, -1]);
    const c = check('c');
    engine.start(c, '10.0.0.3', 80);
    assert.ok(c.slot === 0 || c.slot === 1, `slot ${c.slot} reused`);
  });

  it('returns -errno for a check that failed at once, and keeps its slot free', () => {
    const { addon } = fakeAddon();
    const engine = new NativeChecks<Check>(addon, () => assert.fail('no result expected'));
    const bad = check('bad');
    assert.equal(engine.start(bad, 'bad', 80), -22);
    assert.deepEqual([bad.fd, bad.slot], [-1, -1]);
    const good = check('good');
    engine.start(good, '10.0.0.1', 80);
    assert.equal(good.slot, 0);
  });

  it('a handler that aborts a later check of the same batch never closes a reused fd', () => {
    const { addon, finish, aborted } = fakeAddon();
    const a = check('a');
    const b = check('b');
    const seen: string[] = [];
    const engine = new NativeChecks<Check>(addon, (c) => {
      seen.push(c.name);
      if (c === a) {
        engine.abort(b); // b's socket is already closed by the engine: nothing to abort
        engine.start(check('new'), '10.0.0.9', 80); // may take b's old slot
      }
    });
    engine.start(a, '10.0.0.1', 80);
    engine.start(b, '10.0.0.2', 80);
    finish([[a.fd, 0], [b.fd, 0]]);
    assert.deepEqual(aborted, []);
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('abort closes a check in flight once; its result never comes', () => {
    const { addon, aborted, open } = fakeAddon();
    const engine = new NativeChecks<Check>(addon, () => assert.fail('no result expected'));
    const a = check('a');
    engine.start(a, '10.0.0.1', 80);
    const fd = a.fd;
    engine.abort(a);
    engine.abort(a);
    assert.deepEqual(aborted, [fd]);
    assert.equal(open.size, 0);
  });

  it('refuses to run when the addon will not initialise', () => {
    const { addon } = fakeAddon();
    assert.throws(() => new NativeChecks<Check>({ ...addon, init: () => -114 }, () => undefined), /init failed \(-114\)/);
  });
});

describe('native tcp check engine (dist/native/tcp_check.node)', () => {
  const load = loadTcpCheckAddon();
  // In CI the build must have produced it (test/scripts/setup.sh installs gcc); elsewhere a
  // machine without a C compiler runs the JavaScript checks, and says so here.
  const options = load.addon || process.env.CI ? {} : { skip: `skipped: ${load.error}` };

  it('is built and is what the agent uses', options, () => {
    assert.equal(load.error, undefined);
    assert.equal(tcpDirect.mode, 'half-open');
    assert.equal(tcpDirect.fallback, undefined);
  });

  it('reports a missing or foreign addon by path instead of throwing', () => {
    assert.match(loadTcpCheckAddon('/nonexistent/tcp_check.node').error ?? '', /\/nonexistent\/tcp_check\.node is not built/);
    assert.match(loadTcpCheckAddon(new URL('../../checks/tcp.js', import.meta.url).pathname).error ?? '', /is not the tcp check engine/);
  });

  it('checks half-open: up, yet the backend never accepts a connection (a full-handshake check does)', options, async () => {
    let accepted = 0;
    const server = net.createServer((socket) => {
      accepted++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => tcpProbe(target('127.0.0.1', port), 1000)));
      assert.deepEqual(results.filter((r) => !r.ok), []);
      await sleep(200);
      assert.equal(accepted, 0);
      // Control: the uv fallback completes the handshake, so the server does see its checks.
      const uv = promiseProbe(createTcpDirect('uv'));
      await Promise.all(Array.from({ length: 5 }, () => uv(target('127.0.0.1', port), 1000)));
      const deadline = Date.now() + 2000;
      while (accepted < 5 && Date.now() < deadline) await sleep(20);
      assert.equal(accepted, 5);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('checks IPv6 backends', options, async () => {
    const server = await tcpServer('::1');
    const closed = await closedPort();
    try {
      assert.equal((await tcpProbe(target('::1', server.port), 1000)).message, `TCP connect to ::1:${server.port}: connected`);
      assert.equal((await tcpProbe(target('::1', closed), 1000)).ok, false);
    } finally {
      await server.close();
    }
  });

  it('turns a bad address into -EINVAL, including one too long to be an address', options, () => {
    const engine = { addon: load.addon! };
    for (const ip of ['1.2.3', 'not-an-ip', `fe80::1%${'x'.repeat(80)}`, '']) {
      assert.equal(engine.addon.start(1, ip, 80), -22, ip);
    }
    assert.equal(engine.addon.start(1, '127.0.0.1', 0), -22);
    assert.equal(engine.addon.start(1, '127.0.0.1', 70000), -22);
  });

  it('leaves no fd open and nothing in flight after 2000 checks, timeouts and aborts', options, async () => {
    const server = await tcpServer();
    const blackhole = await blackholePort();
    const fds = () => readdirSync('/proc/self/fd').length;
    try {
      await tcpProbe(target('127.0.0.1', server.port), 1000); // the engine's own fds exist from here on
      const before = fds();
      const ok = Promise.all(Array.from({ length: 2000 }, () => tcpProbe(target('127.0.0.1', server.port), 2000)));
      const timedOut = Promise.all(Array.from({ length: 20 }, () => tcpProbe(target('127.0.0.1', blackhole.port), 200)));
      const controller = new AbortController();
      setMaxListeners(20, controller.signal);
      const aborted = Promise.all(Array.from({ length: 20 }, () => tcpProbe(target('127.0.0.1', blackhole.port), 5000, controller.signal)));
      setTimeout(() => controller.abort(), 50);
      assert.equal((await ok).filter((r) => !r.ok).length, 0);
      assert.ok((await timedOut).every((r) => r.message.endsWith('timed out after 200 ms')));
      assert.ok((await aborted).every((r) => r.message.endsWith('aborted')));
      assert.equal(load.addon!.inflight(), 0);
      assert.equal(fds(), before);
    } finally {
      await blackhole.close();
      await server.close();
    }
  });

  const child = (script: string, env: NodeJS.ProcessEnv = process.env) =>
    run(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, env });

  it('HA_AGENT_TCP_PROBE forces a JavaScript mode; a bad value is named in a warning, not obeyed', options, async () => {
    const script = `
      const { tcpDirect, tcpProbeWarnings } = await import(${JSON.stringify(new URL('../../checks/tcp.js', import.meta.url).href)});
      console.log(JSON.stringify({ mode: tcpDirect.mode, warnings: tcpProbeWarnings() }));`;
    const forced = JSON.parse((await child(script, { ...process.env, HA_AGENT_TCP_PROBE: 'uv' })).stdout);
    assert.deepEqual(forced, { mode: 'uv', warnings: [] });
    const bad = JSON.parse((await child(script, { ...process.env, HA_AGENT_TCP_PROBE: 'fast please' })).stdout);
    assert.deepEqual(bad, { mode: 'half-open', warnings: ['HA_AGENT_TCP_PROBE="fast please" is not one of half-open, uv, net; using half-open'] });
  });

  it('without the engine built, checks run in JavaScript and the start-up warning says why', async () => {
    // dist/checks alone, without dist/native beside it: a machine where native/build.sh had no compiler.
    const dir = mkdtempSync(join(tmpdir(), 'ha-agent-nonative-'));
    try {
      cpSync(new URL('../../checks', import.meta.url).pathname, join(dir, 'checks'), { recursive: true });
      const port = await closedPort();
      const { stdout } = await child(`
        const { tcpDirect, tcpProbe, tcpProbeWarnings } = await import(${JSON.stringify(join(dir, 'checks/tcp.js'))});
        const r = await tcpProbe({ farm: 'f', backend: 'b', ip: '127.0.0.1', port: ${port} }, 1000);
        console.log(JSON.stringify({ mode: tcpDirect.mode, warnings: tcpProbeWarnings(), message: r.message }));`);
      const out = JSON.parse(stdout) as { mode: string; warnings: string[]; message: string };
      assert.equal(out.mode, 'uv');
      assert.equal(out.message, `TCP connect to 127.0.0.1:${port}: ECONNREFUSED`);
      assert.equal(out.warnings.length, 1);
      assert.match(out.warnings[0]!, /^tcp checks run in uv mode \(JavaScript, full handshake\): .*\/native\/tcp_check\.node is not built \(native\/build\.sh\)$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lets an idle process exit: no check in flight keeps the loop alive', options, async () => {
    const port = await closedPort();
    const { stdout } = await child(`
      const { tcpProbe } = await import(${JSON.stringify(new URL('../../checks/tcp.js', import.meta.url).href)});
      const r = await tcpProbe({ farm: 'f', backend: 'b', ip: '127.0.0.1', port: ${port} }, 1000);
      console.log(r.message);`);
    assert.equal(stdout.trim(), `TCP connect to 127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('a result handler that throws is an uncaught exception, not a silent stall', options, async () => {
    const port = await closedPort();
    const failed = await child(`
      const { loadTcpCheckAddon, NativeChecks } = await import(${JSON.stringify(new URL('../../checks/tcp-native.js', import.meta.url).href)});
      const engine = new NativeChecks(loadTcpCheckAddon(${JSON.stringify(TCP_CHECK_ADDON)}).addon, () => { throw new Error('handler broke'); });
      engine.start({ fd: -1, slot: -1 }, '127.0.0.1', ${port});`).then(() => undefined, (err: { code: number; stderr: string }) => err);
    assert.ok(failed, 'the child exited 0');
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /handler broke/);
  });
});
