// The metrics listener's routes over real HTTP on loopback: the status page and its security
// headers, /status.json as the status source says, /events.json, /metrics with the notify hooks'
// counters, and nothing that writes.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startMetrics, type MetricsServer } from '../../agent/metrics/server.js';
import { EventHistory, type EngineEvent } from '../../agent/engine/history.js';
import { silentLogger } from '../../agent/log.js';
import { NOW, sampleStatus } from '../control/fakes.js';
import { parsePrometheusText, valueOf } from './prom-text.js';

const HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">';

describe('the metrics listener', () => {
  const history = new EventHistory();
  const status = sampleStatus({ 'web/b1': { health: 'down', lastCheck: { ok: false, message: HOSTILE, latencyMs: 3, at: NOW } } });
  let server: MetricsServer;
  let base: string;
  before(async () => {
    const notify = { stats: () => ({ delivered: 1, failed: 0, dropped: 0, queued: 0, hooks: [{ index: 0, kind: 'exec' as const, target: '/bin/true', queued: 0, delivered: 1, failed: 0, dropped: 0 }] }) };
    server = await startMetrics({ status: { status: () => status }, events: { on: (l) => history.on(l), recentEvents: (n) => history.recent(n) }, notify, logger: silentLogger }, '127.0.0.1:0');
    base = `http://127.0.0.1:${server.port}`;
    for (let i = 0; i < 60; i++) {
      const event: EngineEvent = { type: 'transition', farm: 'web', backend: 'b1', from: i % 2 ? 'down' : 'up', to: i % 2 ? 'up' : 'down', reason: `step ${i}`, at: NOW + i };
      history.emit(event);
    }
  });
  after(() => server?.stop());

  it('serves the page with a CSP that allows exactly its inline script and style', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    const html = await res.text();
    const csp = new Map(res.headers.get('content-security-policy')!.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v]));
    assert.deepEqual(csp.get('default-src'), ["'none'"]);
    assert.deepEqual(csp.get('connect-src'), ["'self'"]);
    assert.deepEqual(csp.get('frame-ancestors'), ["'none'"]);
    const digest = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    assert.equal(scripts.length, 1);
    assert.equal(styles.length, 1);
    assert.deepEqual(csp.get('script-src'), [digest(scripts[0]!)]);
    assert.deepEqual(csp.get('style-src'), [digest(styles[0]!)]);
    assert.doesNotMatch(html, /\b(src|href)="(https?:)?\/\//, 'nothing is loaded from elsewhere');
    assert.ok(!html.includes('window.pwned'), 'no status data is in the page itself: the script fetches it');
  });

  it('serves /status.json from the status source, uncached', async () => {
    const res = await fetch(`${base}/status.json`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.deepEqual(await res.json(), JSON.parse(JSON.stringify(status)));
  });

  it('serves the recent transitions at /events.json, 50 unless asked', async () => {
    const all = (await (await fetch(`${base}/events.json`)).json()) as { reason: string; at: string }[];
    assert.equal(all.length, 50);
    assert.equal(all.at(-1)!.reason, 'step 59');
    assert.equal(all[0]!.reason, 'step 10');
    const two = (await (await fetch(`${base}/events.json?n=2`)).json()) as { type: string; reason: string; at: string }[];
    assert.deepEqual(two.map((e) => [e.type, e.reason, e.at]), [['transition', 'step 58', new Date(NOW + 58).toISOString()], ['transition', 'step 59', new Date(NOW + 59).toISOString()]]);
    assert.equal(((await (await fetch(`${base}/events.json?n=-3`)).json()) as unknown[]).length, 50);
  });

  it('serves /metrics with the notify hooks\' counters', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    const m = parsePrometheusText(await res.text());
    assert.equal(valueOf(m, 'ha_agent_notify_delivered_total', { hook: '0', kind: 'exec' }), 1);
    assert.equal(valueOf(m, 'ha_agent_backend_health', { farm: 'web', backend: 'b1', state: 'down' }), 1);
  });

  it('answers HEAD without a body, refuses writes and unknown paths', async () => {
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    assert.ok(Number(head.headers.get('content-length')) > 1000);
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${base}/status.json`, { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
    }
    const missing = await fetch(`${base}/index.html`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /status page is at \//);
  });
});
