// Notify hooks against real programs and a real HTTP server on loopback: the tokens each argument
// gets, no shell anywhere, a slow hook killed with its children at its timeout, a flood that
// stays within the queue (drops counted), and a webhook that receives the POST.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ExecaRunner } from '../../agent/apply/runner.js';
import { EventHistory } from '../../agent/engine/history.js';
import { clusterEvent, substitute, type NotifyEvent } from '../../agent/notify/event.js';
import { NotifyHooks } from '../../agent/notify/hooks.js';
import { startNotify } from '../../agent/notify/service.js';
import { VrrpView } from '../../agent/vrrp/state.js';
import { notifyHookSchema, type NotifyHookConfig } from '../../config/notify.js';
import { parsedConfig } from '../support/config.js';
import { waitFor } from '../netns/poll.js';

// Compiled to dist/test/notify/: the fixtures stay in the source tree.
const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/notify/fixtures/${name}`, import.meta.url));
const runner = new ExecaRunner();
const hook = (raw: unknown): NotifyHookConfig => notifyHookSchema.parse(raw);

/** A logger whose lines the test reads. */
function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** Running: there and not a zombie (a container's init may be slow to reap an orphan). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const event = (over: Partial<NotifyEvent> = {}): NotifyEvent => ({
  event: 'backend', node: 'lb1', farm: 'app', backend: 'app0', from: 'up', to: 'down', reason: 'TCP connect: refused', at: 0, ...over,
});

let dir = '';
before(async () => { dir = await mkdtemp(join(tmpdir(), 'ha-agent-notify-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

async function argvLines(file: string, count: number): Promise<string[][]> {
  await waitFor(async () => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length >= count, { timeoutMs: 10_000, what: `${count} hook runs` });
  return (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
}

describe('substitute', () => {
  it('replaces each token in place, once, and leaves everything else as written', () => {
    const e = event({ reason: '{farm} $(id) `id` "; rm -rf /' });
    assert.equal(substitute('{farm}/{backend}:{from}->{to}', e), 'app/app0:up->down');
    assert.equal(substitute('--why={reason}', e), '--why={farm} $(id) `id` "; rm -rf /');
    assert.equal(substitute('{node} {event} {ip} {FARM} {farm', e), 'lb1 backend {ip} {FARM} {farm');
    assert.equal(substitute('{"json":1}', e), '{"json":1}');
  });
});

describe('exec hooks', () => {
  it('fire with the right tokens, one argument each, for the events they listen to only', async () => {
    const out = join(dir, 'tokens.jsonl');
    const { logger } = memoryLogger();
    const hooks = new NotifyHooks({ runner, logger });
    hooks.use([
      hook({ on: ['backend', 'cluster'], exec: [fixture('append-argv'), out, '{event}', '{node}', '{farm}', '{backend}', '{from}', '{to}', '{reason}', 'x={farm}/{backend}'] }),
    ]);
    hooks.notify(event());
    hooks.notify(event({ event: 'vrrp', farm: '', backend: '', from: 'BACKUP', to: 'MASTER' }));
    hooks.notify(clusterEvent('lb1', false, 'connect ECONNREFUSED 127.0.0.1:6390', 0));
    const lines = await argvLines(out, 2);
    assert.deepEqual(lines, [
      ['backend', 'lb1', 'app', 'app0', 'up', 'down', 'TCP connect: refused', 'x=app/app0'],
      ['cluster', 'lb1', '', '', 'connected', 'disconnected', 'connect ECONNREFUSED 127.0.0.1:6390', 'x=/'],
    ]);
    await waitFor(() => hooks.stats().delivered === 2, { timeoutMs: 5000, what: 'the counters' });
    assert.deepEqual({ ...hooks.stats(), hooks: undefined }, { delivered: 2, failed: 0, dropped: 0, queued: 0, hooks: undefined });
    await hooks.stop();
  });

  it('hand a reason from check output to the program as text: no shell ever sees it', async () => {
    const out = join(dir, 'inject.jsonl');
    const marker = join(dir, 'injected');
    const reasons = [`$(touch ${marker})`, `\`touch ${marker}\``, `x; touch ${marker}`, `x && touch ${marker} | sh`, `'"; touch ${marker}; "'`];
    const hooks = new NotifyHooks({ runner, logger: memoryLogger().logger });
    hooks.use([hook({ on: ['backend'], exec: [fixture('append-argv'), out, '{reason}', 'why: {reason}'] })]);
    for (const reason of reasons) hooks.notify(event({ reason }));
    const lines = await argvLines(out, reasons.length);
    assert.deepEqual(lines, reasons.map((r) => [r, `why: ${r}`]));
    assert.equal(existsSync(marker), false, 'a reason reached a shell');
    await hooks.stop();
  });

  it('kill a slow hook and its children at the timeout, count the failure and log it', async () => {
    const pidFile = join(dir, 'slow.pid');
    const { logger, lines } = memoryLogger();
    const hooks = new NotifyHooks({ runner, logger });
    hooks.use([hook({ on: ['backend'], exec: [fixture('slow'), pidFile], timeout: '300ms' })]);
    const started = performance.now();
    hooks.notify(event());
    await waitFor(() => hooks.stats().failed === 1, { timeoutMs: 5000, what: 'the slow hook to be killed' });
    const took = performance.now() - started;
    assert.ok(took >= 300 && took < 3000, `killed after ${Math.round(took)} ms`);
    const child = Number(await readFile(pidFile, 'utf8'));
    await waitFor(() => !running(child), { timeoutMs: 2000, what: 'the hook\'s child to be killed with it' });
    const failure = lines.find((l) => l.msg === 'notify hook 0 failed: ' + String(l.error));
    assert.ok(failure, `no failure line in ${JSON.stringify(lines)}`);
    assert.match(String(failure.error), /timed out/);
    assert.equal(failure.farm, 'app');
    await hooks.stop();
  });

  it('count and log a program that fails', async () => {
    const { logger, lines } = memoryLogger();
    const hooks = new NotifyHooks({ runner, logger });
    hooks.use([hook({ on: ['apply-error'], exec: ['false'] })]);
    hooks.notify(event({ event: 'apply-error', farm: '', backend: '', from: '', to: '', reason: 'iptables-restore: line 3 failed' }));
    await waitFor(() => hooks.stats().failed === 1, { timeoutMs: 5000, what: 'the failure count' });
    assert.ok(lines.some((l) => l.level === 40 && /exited 1/.test(String(l.error))));
    await hooks.stop();
  });
});

describe('the queue', () => {
  it('never holds more than its limit: a flood drops the oldest, counted, and the last events are delivered', async () => {
    const out = join(dir, 'flood.jsonl');
    const { logger, lines } = memoryLogger();
    const limit = 10;
    const hooks = new NotifyHooks({ runner, logger, queueLimit: limit });
    hooks.use([hook({ on: ['backend'], exec: [fixture('append-argv'), out, '{reason}'] })]);
    const total = 200_000;
    const heapBefore = process.memoryUsage().heapUsed;
    let maxQueued = 0;
    for (let i = 0; i < total; i++) {
      hooks.notify(event({ reason: `event ${i} ${'x'.repeat(200)}` }));
      if (i % 1000 === 0) maxQueued = Math.max(maxQueued, hooks.stats().queued);
    }
    const stats = hooks.stats();
    assert.ok(maxQueued <= limit && stats.queued <= limit, `queued ${maxQueued}`);
    // Every event either waits, is delivered, is in flight, or was dropped and counted.
    assert.ok(stats.dropped >= total - limit - 1, `dropped ${stats.dropped}`);
    // 200 000 events of ~250 bytes would be ~50 MB if kept.
    const grown = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(grown < 20e6, `heap grew ${Math.round(grown / 1e6)} MB`);
    assert.equal(lines.filter((l) => /is behind/.test(String(l.msg))).length, 1, 'one warning per burst, not one per drop');
    await waitFor(() => hooks.stats().queued === 0 && hooks.stats().delivered + hooks.stats().dropped === total, { timeoutMs: 60_000, intervalMs: 200, what: 'the queue to drain' });
    const delivered = await argvLines(out, hooks.stats().delivered);
    // The newest event is never the one dropped.
    assert.equal(delivered.at(-1)![0]!.split(' ').slice(0, 2).join(' '), `event ${total - 1}`);
    assert.ok(lines.some((l) => /caught up after dropping/.test(String(l.msg))));
    await hooks.stop();
  });

  it('does not make the emitter wait: notify returns before the hook runs', async () => {
    const pidFile = join(dir, 'wait.pid');
    const hooks = new NotifyHooks({ runner, logger: memoryLogger().logger });
    hooks.use([hook({ on: ['backend'], exec: [fixture('slow'), pidFile], timeout: '5s' })]);
    const started = performance.now();
    for (let i = 0; i < 50; i++) hooks.notify(event());
    assert.ok(performance.now() - started < 50, 'notify waited for a hook');
    await waitFor(() => existsSync(pidFile), { timeoutMs: 5000, what: 'the first run to start' });
    // Stopping drops what waits and aborts the run in flight after the grace.
    await hooks.stop(100);
    assert.deepEqual({ ...hooks.stats(), hooks: undefined }, { delivered: 0, failed: 1, dropped: 49, queued: 0, hooks: undefined });
  });
});

describe('webhook hooks', () => {
  it('POST the event as JSON to the URL', async () => {
    const received: { method: string; url: string; type: string; body: unknown }[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ method: req.method!, url: req.url!, type: req.headers['content-type']!, body: JSON.parse(body) });
        res.writeHead(req.url === '/fail' ? 500 : 204).end();
      });
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const { logger, lines } = memoryLogger();
    const hooks = new NotifyHooks({ runner, logger });
    hooks.use([
      hook({ on: ['vrrp'], webhook: `http://127.0.0.1:${port}/hook/SECRET-TOKEN?k=v` }),
      hook({ on: ['vrrp'], webhook: `http://127.0.0.1:${port}/fail` }),
    ]);
    try {
      hooks.notify(event({ event: 'vrrp', farm: '', backend: '', from: 'BACKUP', to: 'MASTER', reason: 'keepalived', at: Date.parse('2025-01-02T03:04:05Z') }));
      await waitFor(() => hooks.stats().delivered === 1 && hooks.stats().failed === 1, { timeoutMs: 5000, what: 'both POSTs' });
      const ok = received.find((r) => r.url.startsWith('/hook'))!;
      assert.deepEqual(ok, {
        method: 'POST', url: '/hook/SECRET-TOKEN?k=v', type: 'application/json',
        body: { event: 'vrrp', node: 'lb1', farm: '', backend: '', from: 'BACKUP', to: 'MASTER', reason: 'keepalived', at: '2025-01-02T03:04:05.000Z' },
      });
      assert.ok(lines.some((l) => l.error === `HTTP 500 from http://127.0.0.1:${port}`));
      // The stats and logs name the origin only: the path may be the webhook's secret.
      assert.deepEqual(hooks.stats().hooks.map((h) => h.target), [`http://127.0.0.1:${port}`, `http://127.0.0.1:${port}`]);
      assert.ok(!JSON.stringify(lines).includes('SECRET-TOKEN'));
    } finally {
      await hooks.stop();
      server.close();
    }
  });

  it('time out a server that never answers', async () => {
    const server = createServer(() => undefined).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const { logger, lines } = memoryLogger();
    const hooks = new NotifyHooks({ runner, logger });
    hooks.use([hook({ on: ['backend'], webhook: `http://127.0.0.1:${port}/`, timeout: '200ms' })]);
    try {
      hooks.notify(event());
      await waitFor(() => hooks.stats().failed === 1, { timeoutMs: 5000, what: 'the timeout' });
      assert.ok(lines.some((l) => /timed out after 200 ms/.test(String(l.error))));
    } finally {
      await hooks.stop();
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('startNotify', () => {
  it('follows the engine, VRRP and the cluster, and picks up new hooks on reload', async () => {
    const out = join(dir, 'service.jsonl');
    const yaml = (on: string) => `node: { id: lb7 }\nnotify:\n  - { on: [${on}], exec: [${fixture('append-argv')}, ${out}, "{event}", "{from}", "{to}", "{reason}"] }\nfarms: []\n`;
    let config = parsedConfig(yaml('backend, vrrp, cluster, apply-error'));
    const history = new EventHistory();
    const vrrp = new VrrpView(true);
    const service = startNotify({ config: { config: () => config }, events: history, vrrp, runner, logger: memoryLogger().logger });
    const connected: (() => void)[] = [];
    const disconnected: ((reason: string) => void)[] = [];
    service.followCluster({ onConnected: (l) => void connected.push(l), onDisconnected: (l) => void disconnected.push(l) });
    try {
      history.emit({ type: 'transition', farm: 'app', backend: 'app0', from: 'unknown', to: 'up', reason: 'first check', at: 1 });
      history.emit({ type: 'check', farm: 'app', backend: 'app0', result: { ok: false, message: 'refused', latencyMs: 1, at: 2 } });
      history.emit({ type: 'transition', farm: 'app', backend: 'app0', from: 'up', to: 'down', reason: 'refused', at: 3 });
      history.emit({ type: 'admin', farm: 'app', backend: 'app0', from: 'enabled', to: 'drain', at: 4 });
      vrrp.set('MASTER');
      connected.forEach((l) => l());
      disconnected.forEach((l) => l('WRONGPASS invalid username-password pair'));
      history.emit({ type: 'apply-error', error: 'iptables-restore: exit 1', at: 5 });
      assert.deepEqual(await argvLines(out, 6), [
        ['backend', 'up', 'down', 'refused'],
        ['backend', 'enabled', 'drain', 'admin state changed'],
        ['vrrp', 'UNKNOWN', 'MASTER', 'keepalived'],
        ['cluster', 'disconnected', 'connected', 'Redis connected'],
        ['cluster', 'connected', 'disconnected', 'WRONGPASS invalid username-password pair'],
        ['apply-error', '', '', 'iptables-restore: exit 1'],
      ]);
      config = parsedConfig(yaml('vrrp'));
      service.reconfigure!(config);
      history.emit({ type: 'apply-error', error: 'not heard any more', at: 6 });
      vrrp.set('BACKUP');
      assert.deepEqual((await argvLines(out, 7)).slice(6), [['vrrp', 'MASTER', 'BACKUP', 'keepalived']]);
      await waitFor(() => service.stats().delivered === 7, { timeoutMs: 5000, what: "seven deliveries counted" });
    } finally {
      await service.stop();
    }
  });
});
