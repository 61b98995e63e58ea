// The control socket with a fake API: framing, limits, errors as data, and never stealing a live socket.

import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile, link } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenControl, type ControlSocket } from '../../agent/control/socket.js';
import { call, MAX_ANSWER_BYTES } from '../../agent/control/client.js';
import { ControlError } from '../../agent/control/errors.js';
import { silentLogger } from '../../agent/log.js';
import { FakeApi } from './fakes.js';
import { rawConnect } from './raw.js';

const LIMITS = { requestTimeoutMs: 300, idleTimeoutMs: 800 };

describe('control socket', () => {
  let dir: string;
  let path: string;
  let api: FakeApi;
  let control: ControlSocket;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ha-control-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  beforeEach(async () => {
    path = join(dir, `s${Math.random().toString(36).slice(2, 8)}`, 'agent.sock');
    api = new FakeApi();
    control = await listenControl(api, { path, logger: silentLogger, limits: LIMITS, maxConnections: 3 });
  });
  afterEach(() => control.stop());

  it('answers status with the id of the request', async () => {
    const r = await call(path, { cmd: 'status', id: 'q1' });
    assert.equal(r.ok, true);
    assert.equal(r.id, 'q1');
    assert.equal((r as { result: { node: string } }).result.node, 'lb1');
  });

  it('creates the socket with mode 0660 (and removes it on stop)', async () => {
    const s = await stat(path);
    assert.ok(s.isSocket());
    assert.equal(s.mode & 0o777, 0o660);
    await control.stop();
    assert.equal(existsSync(path), false);
    control = await listenControl(api, { path, logger: silentLogger });
  });

  it('answers pipelined requests in order on one connection', async () => {
    api.backendDelayMs = 50;
    const c = await rawConnect(path);
    c.socket.write('{"v":1,"id":1,"cmd":"backend","farm":"web","backend":"b1","admin":"drain"}\n{"v":1,"id":2,"cmd":"status"}\n{"v":1,"id":3,"cmd":"rules"}\n');
    const lines = (await c.waitLines(3)) as { id: number; ok: boolean }[];
    assert.deepEqual(lines.map((l) => [l.id, l.ok]), [[1, true], [2, true], [3, true]]);
    assert.deepEqual(api.calls, ['backend web/b1 drain', 'status']);
    c.socket.destroy();
  });

  it('answers garbage with bad_json and keeps serving the connection', async () => {
    const c = await rawConnect(path);
    c.socket.write(Buffer.from([0x00, 0xff, 0xfe, 0x41, 0x0a]));
    c.socket.write('{"v":1,"id":9,"cmd":"status"}\n');
    const [bad, good] = (await c.waitLines(2)) as { ok: boolean; error?: { code: string; message: string }; id: unknown }[];
    assert.equal(bad!.ok, false);
    assert.equal(bad!.error!.code, 'bad_json');
    assert.match(bad!.error!.message, /not valid JSON/);
    assert.equal(good!.id, 9);
    c.socket.destroy();
  });

  it('refuses an oversized request and closes the connection', async () => {
    const c = await rawConnect(path);
    c.socket.write(`{"v":1,"cmd":"status","pad":"${'x'.repeat(5 * 1024 * 1024)}`);
    await c.closed();
    assert.deepEqual(c.lines, [{ v: 1, id: null, ok: false, error: { code: 'too_large', message: 'the request exceeds 4194304 bytes; closing the connection' } }]);
    const c2 = await rawConnect(path);
    c2.socket.write(`${JSON.stringify({ v: 1, cmd: 'status', pad: 'y'.repeat(5 * 1024 * 1024) })}\n`);
    await c2.closed();
    assert.equal((c2.lines[0] as { error: { code: string } }).error.code, 'too_large');
    assert.equal((await call(path, { cmd: 'status' })).ok, true, 'the server still answers');
  });

  it('frames requests cut anywhere and ended by CRLF', async () => {
    const c = await rawConnect(path);
    c.socket.write('{"v":1,"id":1,"cmd":"sta');
    await new Promise((r) => setTimeout(r, 20));
    c.socket.write('tus"}\r');
    await new Promise((r) => setTimeout(r, 20));
    c.socket.write('\n{"v":1,"id":2,"cmd":"status"}\r\n');
    const lines = (await c.waitLines(2)) as { id: number; ok: boolean }[];
    assert.deepEqual(lines.map((l) => [l.id, l.ok]), [[1, true], [2, true]]);
    c.socket.destroy();
  });

  it('times out a half-sent request', async () => {
    const c = await rawConnect(path);
    const started = Date.now();
    c.socket.write('{"v":1,"cmd":"sta');
    await c.closed(3000);
    assert.ok(Date.now() - started >= LIMITS.requestTimeoutMs - 20);
    assert.equal((c.lines[0] as { error: { code: string; message: string } }).error.code, 'timeout');
    assert.match((c.lines[0] as { error: { message: string } }).error.message, /not completed within 300 ms/);
  });

  it('a slow trickle cannot extend the deadline', async () => {
    const c = await rawConnect(path);
    const timer = setInterval(() => c.socket.write(' '), 50);
    try {
      await c.closed(3000);
    } finally {
      clearInterval(timer);
    }
    assert.equal((c.lines[0] as { error: { code: string } }).error.code, 'timeout');
  });

  it('closes idle connections', async () => {
    const c = await rawConnect(path);
    await c.closed(3000);
    assert.deepEqual(c.lines, []);
  });

  it('answers a request whose sender already shut its side (printf ... | nc -U)', async () => {
    const c = await rawConnect(path);
    c.socket.end('{"v":1,"id":"last","cmd":"status"}');
    await c.closed();
    assert.equal((c.lines[0] as { id: string }).id, 'last');
  });

  it('bounds concurrent connections with a busy error', async () => {
    const held = await Promise.all([rawConnect(path), rawConnect(path), rawConnect(path)]);
    await new Promise((r) => setTimeout(r, 50));
    const extra = await rawConnect(path);
    await extra.closed();
    assert.equal((extra.lines[0] as { error: { code: string } }).error.code, 'busy');
    held.forEach((c) => c.socket.destroy());
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await call(path, { cmd: 'status' })).ok, true);
  });

  it('turns handler failures into errors as data', async () => {
    api.reloadErrors = ['farms[0].vip: "10.0.0.300" is not an IPv4 address'];
    const r = await call(path, { cmd: 'reload' });
    assert.deepEqual(r, { v: 1, id: null, ok: false, error: { code: 'config_invalid', message: '/etc/ha-agent/config.yaml has 1 errors; the running config is kept', details: ['farms[0].vip: "10.0.0.300" is not an IPv4 address'] } });
    api.status = () => {
      throw new Error('boom');
    };
    const s = await call(path, { cmd: 'status' });
    assert.deepEqual(s.ok ? null : s.error, { code: 'internal', message: 'internal error: boom' });
    const u = await call(path, { cmd: 'backend', farm: 'nope', backend: 'b1', admin: 'drain' });
    assert.deepEqual(u.ok ? null : u.error, { code: 'unknown_farm', message: 'unknown farm "nope" (farms: web, dns)' });
  });

  it('streams events to a follower, in order, until it leaves', async () => {
    api.emit({ at: 'T0', type: 'apply-error', error: 'old' });
    const c = await rawConnect(path);
    c.socket.write('{"v":1,"id":"f","cmd":"events","n":5,"follow":true}\n');
    await c.waitLines(1);
    assert.deepEqual(c.lines[0], { v: 1, id: 'f', ok: true, result: { events: [{ at: 'T0', type: 'apply-error', error: 'old' }] } });
    await call(path, { cmd: 'backend', farm: 'web', backend: 'b2', admin: 'maintenance' });
    api.emit({ at: 'T2', type: 'transition', farm: 'web', backend: 'b1', from: 'up', to: 'down', reason: 'r' });
    await new Promise((r) => setTimeout(r, LIMITS.idleTimeoutMs + 200)); // a follower is never idle-closed
    const lines = (await c.waitLines(3)) as { event?: { type: string } }[];
    assert.deepEqual(lines.slice(1).map((l) => l.event?.type), ['admin', 'transition']);
    assert.equal(api.followers, 1);
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(api.followers, 0);
  });
});

describe('client framing', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ha-client-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A fake agent that answers every connection with `answer`. */
  async function fakeAgent(name: string, answer: (socket: Socket) => void): Promise<{ path: string; close(): Promise<void> }> {
    const path = join(dir, name);
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => answer(socket));
    });
    await new Promise<void>((r) => server.listen(path, r));
    return { path, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  it('reads an answer that arrives a byte at a time, a character cut in two included', async () => {
    const text = Buffer.from(`${JSON.stringify({ v: 1, id: null, ok: true, result: { node: 'lb-é€' } })}\n`);
    const agent = await fakeAgent('bytes.sock', (socket) => {
      let at = 0;
      const next = () => (at < text.length ? socket.write(text.subarray(at, ++at), next) : socket.end());
      next();
    });
    try {
      const r = await call(agent.path, { cmd: 'status' });
      assert.deepEqual(r, { v: 1, id: null, ok: true, result: { node: 'lb-é€' } });
    } finally {
      await agent.close();
    }
  });

  it('gives up on an answer line longer than the cap, without waiting for its end', async () => {
    const block = Buffer.alloc(1024 * 1024, 'x');
    const agent = await fakeAgent('big.sock', (socket) => {
      let sent = 0;
      const next = (): void => {
        if (socket.destroyed || sent > MAX_ANSWER_BYTES + block.length) return;
        sent += block.length;
        socket.write(block, next);
      };
      next();
    });
    try {
      await assert.rejects(call(agent.path, { cmd: 'status' }, { timeoutMs: 20_000 }),
        (err: ControlError) => err.code === 'bad_response' && err.message === 'the agent answered a line longer than 64 MiB');
    } finally {
      await agent.close();
    }
  });
});

describe('claiming the socket path', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ha-claim-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('never steals a live socket', async () => {
    const path = join(dir, 'live.sock');
    const first = await listenControl(new FakeApi(), { path, logger: silentLogger });
    try {
      await assert.rejects(listenControl(new FakeApi(), { path, logger: silentLogger }),
        /another process answers on .*live\.sock \(is ha-agent already running\?\); not taking over its socket/);
      assert.equal((await call(path, { cmd: 'status' })).ok, true, 'the first still answers');
    } finally {
      await first.stop();
    }
  });

  it('removes a stale socket nothing answers on', async () => {
    const path = join(dir, 'stale.sock');
    const keep = join(dir, 'listening.sock');
    const server = createServer();
    await new Promise<void>((r) => server.listen(keep, r));
    await link(keep, path); // a second name for the socket outlives the listener: a stale socket
    await new Promise<void>((r) => server.close(() => r()));
    await assert.rejects(call(path, { cmd: 'status' }), (err: ControlError) => err.code === 'not_running' && /nothing answers on/.test(err.message));
    const control = await listenControl(new FakeApi(), { path, logger: silentLogger });
    assert.equal((await call(path, { cmd: 'status' })).ok, true);
    await control.stop();
  });

  it('refuses to replace a file that is not a socket', async () => {
    const path = join(dir, 'file.sock');
    await writeFile(path, 'precious');
    await assert.rejects(listenControl(new FakeApi(), { path, logger: silentLogger }), /exists and is not a socket; not replacing it/);
  });

  it('sets control.group on the socket', { skip: process.getuid?.() === 0 ? false : 'needs root to chown' }, async () => {
    const path = join(dir, 'group.sock');
    const control = await listenControl(new FakeApi(), { path, group: 'nogroup', logger: silentLogger });
    try {
      const s = await stat(path);
      assert.equal(s.gid, 65534);
      assert.equal(s.mode & 0o777, 0o660);
    } finally {
      await control.stop();
    }
  });

  it('fails clearly on an unknown group', async () => {
    await assert.rejects(listenControl(new FakeApi(), { path: join(dir, 'g2.sock'), group: 'no-such-group-xyz', logger: silentLogger }),
      /control.group "no-such-group-xyz" is not a group in \/etc\/group/);
  });

  it('client: a missing socket means the agent is not running', async () => {
    await assert.rejects(call(join(dir, 'none.sock'), { cmd: 'status' }),
      (err: ControlError) => err.code === 'not_running' && /ha-agent is not running: no control socket at/.test(err.message));
  });
});
