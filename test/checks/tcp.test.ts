// TCP probe against real sockets on 127.0.0.1: up, refused, timeout, abort, and no TIME_WAIT left.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTcpDirect, promiseProbe, tcpDirect, tcpProbe as agentProbe } from '../../checks/tcp.js';
import type { CheckTarget, Probe } from '../../checks/types.js';
import { blackholePort, closedPort, sleep, tcpServer, timeWaitCount, type Listening } from './servers.js';

const target = (port: number): CheckTarget => ({ farm: 'app', backend: 'app0', ip: '127.0.0.1', port });

// The agent's probe (the native engine when built) and the JavaScript fallback behave the same.
const modes: Array<[string, Probe]> = [
  [`tcpProbe (${tcpDirect.mode})`, agentProbe],
  ...(tcpDirect.mode === 'net' ? [] : [['tcpProbe (net fallback)', promiseProbe(createTcpDirect('net'))] as [string, Probe]]),
];

for (const [name, tcpProbe] of modes) describe(name, () => {
  let server: Listening<net.Server>;
  before(async () => {
    server = await tcpServer();
  });
  after(() => server.close());

  it('is up when the connect completes', async () => {
    const result = await tcpProbe(target(server.port), 1000);
    assert.deepEqual({ ok: result.ok, message: result.message }, { ok: true, message: `TCP connect to 127.0.0.1:${server.port}: connected` });
    assert.ok(result.latencyMs >= 0 && result.latencyMs < 1000);
  });

  it('is down with ECONNREFUSED when nothing listens', async () => {
    const port = await closedPort();
    const result = await tcpProbe(target(port), 1000);
    assert.equal(result.ok, false);
    assert.equal(result.message, `TCP connect to 127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('is down after the timeout when SYNs go unanswered', async () => {
    const blackhole = await blackholePort();
    try {
      const started = performance.now();
      const result = await tcpProbe(target(blackhole.port), 300);
      const elapsed = performance.now() - started;
      assert.equal(result.message, `TCP connect to 127.0.0.1:${blackhole.port}: timed out after 300 ms`);
      assert.equal(result.ok, false);
      assert.ok(elapsed >= 290 && elapsed < 500, `took ${elapsed} ms`);
    } finally {
      await blackhole.close();
    }
  });

  it('gives up at once when aborted', async () => {
    const blackhole = await blackholePort();
    try {
      const controller = new AbortController();
      const pending = tcpProbe(target(blackhole.port), 5000, controller.signal);
      setTimeout(() => controller.abort(), 20);
      const result = await pending;
      assert.equal(result.message, `TCP connect to 127.0.0.1:${blackhole.port}: aborted`);
      assert.ok(result.latencyMs < 500);
      const already = await tcpProbe(target(blackhole.port), 5000, controller.signal);
      assert.equal(already.ok, false);
    } finally {
      await blackhole.close();
    }
  });

  it('turns a bad port into a failed result instead of throwing', async () => {
    const result = await tcpProbe(target(70000), 1000);
    assert.equal(result.ok, false);
    assert.match(result.message, /^TCP connect to 127\.0\.0\.1:70000: /);
  });

  it('leaves no TIME_WAIT socket after 50 probes (the connection is reset)', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => tcpProbe(target(server.port), 1000)));
    assert.ok(results.every((r) => r.ok));
    await sleep(100);
    assert.equal(await timeWaitCount(server.port), 0);
  });

  it('(control) a plain close does leave TIME_WAIT, so the count above means something', async () => {
    const other = await tcpServer();
    try {
      for (let i = 0; i < 3; i++) {
        const socket = net.connect({ host: '127.0.0.1', port: other.port });
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.end();
        await new Promise((resolve) => socket.once('close', resolve));
      }
      await sleep(50);
      assert.ok((await timeWaitCount(other.port)) > 0);
    } finally {
      await other.close();
    }
  });
});
