// The native tcp check engine: its batch bookkeeping against a fake addon (the process boundary),
// then the real addon (dist/native/tcp_check.node) against sockets on loopback: half-open checks
// the backend never accepts, IPv6, bad addresses, no fd left behind, idle processes exit, and a
// throwing handler surfacing as an uncaught exception. In CI the addon must be built.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createTcpDirect, promiseProbe, tcpDirect, tcpProbe } from '../../checks/tcp.js';
import { loadTcpCheckAddon, NativeChecks, TCP_CHECK_ADDON, type NativeConnect } from '../../checks/tcp-native.js';
import { fakeAddon } from '../../checks/tcp-native.fake.js';
import type { CheckTarget } from '../../checks/types.js';
import { blackholePort, closedPort, sleep, tcpServer } from './servers.js';

const run = promisify(execFile);
const target = (ip: string, port: number): CheckTarget => ({ farm: 'app', backend: 'app0', ip, port });

interface Check extends NativeConnect { name: string }
const check = (name: string, ip = '10.0.0.1'): Check => ({ name, target: target(ip, 80), nativeToken: -1 });

describe('NativeChecks (fake addon)', () => {
  it('hands each result to its own check and forgets its token once it has ended', () => {
    const { addon, finish } = fakeAddon();
    const seen: Array<[string, string | undefined]> = [];
    const engine = new NativeChecks<Check>(addon, (c, error) => seen.push([c.name, error]));
    const a = check('a');
    const b = check('b');
    assert.equal(engine.start(a), undefined);
    assert.equal(engine.start(b), undefined);
    assert.ok(a.nativeToken > 0 && b.nativeToken > 0 && a.nativeToken !== b.nativeToken);
    finish([[b.nativeToken, -111], [a.nativeToken, 0]]);
    assert.deepEqual(seen, [['b', 'ECONNREFUSED'], ['a', undefined]]);
    assert.deepEqual([a.nativeToken, b.nativeToken], [-1, -1]);
    const c = check('c');
    engine.start(c);
    finish([[c.nativeToken, 0]]);
    assert.deepEqual(seen.at(-1), ['c', undefined]);
  });

  it('returns the error word for a check that failed at once, and holds no token for it', () => {
    const { addon, open } = fakeAddon();
    const engine = new NativeChecks<Check>(addon, () => assert.fail('no result expected'));
    const bad = check('bad', 'bad');
    assert.equal(engine.start(bad), 'EINVAL');
    assert.equal(bad.nativeToken, -1);
    assert.equal(open.size, 0);
  });

  it('a handler that aborts a later check of the same batch asks the engine for nothing', () => {
    const { addon, finish, aborted } = fakeAddon();
    const a = check('a');
    const b = check('b');
    const seen: string[] = [];
    const engine = new NativeChecks<Check>(addon, (c) => {
      seen.push(c.name);
      if (c === a) {
        engine.abort(b); // b has ended in the engine already: nothing to abort
        engine.start(check('new')); // may take b's old slot
      }
    });
    engine.start(a);
    engine.start(b);
    finish([[a.nativeToken, 0], [b.nativeToken, 0]]);
    assert.deepEqual(aborted, []);
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('abort ends a check in flight once, by its token; a result for that token is not delivered', () => {
    const { addon, aborted, open, finish } = fakeAddon();
    const engine = new NativeChecks<Check>(addon, () => assert.fail('no result expected'));
    const a = check('a');
    engine.start(a);
    const token = a.nativeToken;
    engine.abort(a);
    engine.abort(a);
    assert.deepEqual(aborted, [token]);
    assert.equal(open.size, 0);
    finish([[token, 0]]);
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

  it('refuses an engine built from an older tree (fd-based, without tokens)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ha-agent-oldaddon-'));
    try {
      // The shape the fd-based engine exported: everything but SLOTS.
      const old = join(dir, 'tcp_check.cjs');
      writeFileSync(old, 'module.exports = { init() { return 0; }, start() { return 3; }, abort() { return 0; }, inflight() { return 0; }, BATCH: 1024 };');
      assert.match(loadTcpCheckAddon(old).error ?? '', /tcp_check\.cjs is not the tcp check engine \(native\/build\.sh\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
      // Control: the net fallback completes the handshake, so the server does see its checks.
      const full = promiseProbe(createTcpDirect('net'));
      await Promise.all(Array.from({ length: 5 }, () => full(target('127.0.0.1', port), 1000)));
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
      // IPv6 endpoints are written [addr]:port, as status and the other messages write them.
      assert.equal((await tcpProbe(target('::1', server.port), 1000)).message, `TCP connect to [::1]:${server.port}: connected`);
      assert.equal((await tcpProbe(target('::1', closed), 1000)).ok, false);
    } finally {
      await server.close();
    }
  });

  it('turns a bad address into -EINVAL, including one too long to be an address', options, () => {
    assert.equal(tcpDirect.mode, 'half-open'); // the engine is initialised from here on
    const engine = { addon: load.addon! };
    for (const ip of ['1.2.3', 'not-an-ip', `fe80::1%${'x'.repeat(80)}`, '']) {
      assert.equal(engine.addon.start(ip, 80), -22, ip);
    }
    assert.equal(engine.addon.start('127.0.0.1', 0), -22);
    assert.equal(engine.addon.start('127.0.0.1', 70000), -22);
    assert.equal(engine.addon.inflight(), 0);
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
      // A check whose delayed ACK left before its RST was accepted by the server of this very
      // process, which closes its side when the RST lands: that fd goes within moments; a leak stays.
      const settled = Date.now() + 1000;
      while (fds() !== before && Date.now() < settled) await sleep(20);
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
    const forced = JSON.parse((await child(script, { ...process.env, HA_AGENT_TCP_PROBE: 'net' })).stdout);
    assert.deepEqual(forced, { mode: 'net', warnings: [] });
    const bad = JSON.parse((await child(script, { ...process.env, HA_AGENT_TCP_PROBE: 'fast please' })).stdout);
    assert.deepEqual(bad, { mode: 'half-open', warnings: ['HA_AGENT_TCP_PROBE="fast please" is not one of half-open, net; using half-open'] });
  });

  it('without the engine built, checks run in JavaScript and the start-up warning says why', async () => {
    // dist/checks alone, without dist/native beside it: a machine where native/build.sh had no compiler.
    const dir = mkdtempSync(join(tmpdir(), 'ha-agent-nonative-'));
    try {
      cpSync(new URL('../../checks', import.meta.url).pathname, join(dir, 'checks'), { recursive: true });
      // What checks/ imports from the config layer (endpoint formatting) comes along.
      cpSync(new URL('../../config', import.meta.url).pathname, join(dir, 'config'), { recursive: true });
      const port = await closedPort();
      const { stdout } = await child(`
        const { tcpDirect, tcpProbe, tcpProbeWarnings } = await import(${JSON.stringify(join(dir, 'checks/tcp.js'))});
        const r = await tcpProbe({ farm: 'f', backend: 'b', ip: '127.0.0.1', port: ${port} }, 1000);
        console.log(JSON.stringify({ mode: tcpDirect.mode, warnings: tcpProbeWarnings(), message: r.message }));`);
      const out = JSON.parse(stdout) as { mode: string; warnings: string[]; message: string };
      assert.equal(out.mode, 'net');
      assert.equal(out.message, `TCP connect to 127.0.0.1:${port}: ECONNREFUSED`);
      assert.equal(out.warnings.length, 1);
      assert.match(out.warnings[0]!, /^tcp checks run in net mode \(JavaScript, full handshake\): .*\/native\/tcp_check\.node is not built \(native\/build\.sh\)$/);
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
      engine.start({ target: { ip: '127.0.0.1', port: ${port} }, nativeToken: -1 });`).then(() => undefined, (err: { code: number; stderr: string }) => err);
    assert.ok(failed, 'the child exited 0');
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /handler broke/);
  });

  // The engine is initialised once per process, so these drive a fresh one in a child.
  const addonScript = (body: string) => `
    import { createRequire } from 'node:module';
    import { readdirSync, readlinkSync } from 'node:fs';
    import net from 'node:net';
    import { once } from 'node:events';
    const addon = createRequire(import.meta.url)(${JSON.stringify(TCP_CHECK_ADDON)});
    const link = (fd) => { try { return readlinkSync('/proc/self/fd/' + fd); } catch { return undefined; } };
    const sockets = () => new Map(readdirSync('/proc/self/fd').map((fd) => [Number(fd), link(fd)]).filter(([, l]) => l?.startsWith('socket:')));
    const until = async (cond) => { const end = Date.now() + 5000; while (!cond()) { if (Date.now() > end) throw new Error('waited too long'); await new Promise((r) => setTimeout(r, 5)); } };
    ${body}`;

  it('aborts by token: a token whose check has ended closes nothing, even once its fd number is reused', options, async () => {
    const port = await closedPort();
    const { stdout } = await child(addonScript(`
      const server = net.createServer().listen(0, '127.0.0.1');
      await once(server, 'listening');
      // The handler ignores every batch: JavaScript never hears that the check ended, as when a
      // result is lost, so its timeout will abort it later.
      if (addon.init(() => undefined, new Float64Array(2 * addon.BATCH)) !== 0) throw new Error('init');
      const before = sockets();
      const token = addon.start('127.0.0.1', ${port});
      const [checkFd] = [...sockets().keys()].filter((fd) => !before.has(fd));
      await until(() => addon.inflight() === 0); // refused, and the engine has closed its socket
      const gone = link(checkFd) === undefined;
      // A new connection: the kernel hands out the lowest free fd number, the check's old one.
      const accepted = once(server, 'connection');
      const client = net.connect(server.address().port, '127.0.0.1');
      await once(client, 'connect');
      const [peer] = await accepted;
      const reused = link(checkFd);
      const abort = addon.abort(token);
      const after = link(checkFd);
      peer.write('ping');
      const [data] = await once(client, 'data');
      client.destroy(); peer.destroy(); server.close();
      console.log(JSON.stringify({ gone, reused: reused !== undefined, abort, same: after === reused, data: String(data) }));`));
    const out = JSON.parse(stdout) as { gone: boolean; reused: boolean; abort: number; same: boolean; data: string };
    assert.deepEqual({ gone: out.gone, reused: out.reused }, { gone: true, reused: true }, 'the new connection took the check\'s fd number');
    assert.equal(out.abort, -2, 'ENOENT: the token names no check in flight');
    assert.equal(out.same, true, 'the new connection\'s socket is still at that fd');
    assert.equal(out.data, 'ping');
  });

  it('makes a new token for every check; abort of an ended, repeated or made-up token is a no-op', options, async () => {
    const port = await closedPort();
    const blackhole = await blackholePort();
    try {
      const { stdout } = await child(addonScript(`
        const early = addon.start('127.0.0.1', ${port});
        const results = new Float64Array(2 * addon.BATCH);
        const seen = [];
        const init = [
          addon.init(() => undefined, new Int32Array(2 * addon.BATCH)),
          addon.init('not a function', results),
          addon.init(() => undefined, new Float64Array(4)),
          addon.init((count) => { for (let i = 0; i < count; i++) seen.push([results[2 * i], results[2 * i + 1]]); }, results),
          addon.init(() => undefined, results),
        ];
        const refused = addon.start('127.0.0.1', ${port});
        await until(() => seen.length === 1);
        const again = addon.start('127.0.0.1', ${port});
        await until(() => seen.length === 2);
        const hanging = addon.start('127.0.0.1', ${blackhole.port});
        const inflight = addon.inflight();
        const aborts = [addon.abort(hanging), addon.abort(hanging), addon.abort(refused), addon.abort(12345), addon.abort(hanging + addon.SLOTS), addon.abort('x')];
        console.log(JSON.stringify({ early, init, refused, again, hanging, seen, inflight, aborts, after: addon.inflight(), SLOTS: addon.SLOTS }));`));
      const out = JSON.parse(stdout) as {
        early: number; init: number[]; refused: number; again: number; hanging: number; seen: number[][];
        inflight: number; aborts: number[]; after: number; SLOTS: number;
      };
      assert.equal(out.early, -107, 'ENOTCONN before init');
      assert.deepEqual(out.init, [-22, -22, -22, 0, -114], 'wrong array type, not a function, too short; then once only (EALREADY)');
      assert.deepEqual(out.seen, [[out.refused, -111], [out.again, -111]]);
      assert.ok(out.refused >= out.SLOTS && out.again >= out.SLOTS && out.hanging >= out.SLOTS, 'tokens are never small numbers');
      assert.equal(new Set([out.refused, out.again, out.hanging]).size, 3);
      assert.equal(out.inflight, 1);
      assert.deepEqual(out.aborts, [0, -2, -2, -2, -2, -22]);
      assert.equal(out.after, 0);
    } finally {
      await blackhole.close();
    }
  });
});
