// The status page in a real headless Chromium (Debian's, driven by playwright-core), run inside a
// lab namespace with the server it reads. First over a made-up clustered status (per-node views,
// an admin disagreement, split brain, BGP, check messages and peer errors made of markup), then
// over a real agent whose backend goes down: the page shows it within one refresh. Screenshots
// are written to test-artifacts/.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildStatus, type ClusterView } from '../../agent/control/status.js';
import type { HistoryEvent } from '../../agent/engine/history.js';
import { createLab, waitFor, VIP, type Lab, type NsProcess } from '../netns/topology.js';
import { needsProgram, needsRoot } from '../support/root.js';
import { repoPath } from '../support/repo.js';
import { sampleInput } from '../control/fakes.js';
import { AgentLab, METRICS } from '../control/agent-lab.js';
import { launchInNetns, saveScreenshot, type NsBrowser, type WatchedPage } from './browser.js';

/** Markup that would run or load something if the page ever treated text as HTML. */
const HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2"><b>bold</b>';
const LISTEN = '127.0.0.1:9798';
const available = { ...needsRoot(), ...needsProgram('chromium') };

/** What the page shows for backend `name` of `farm`: its health badge text. */
const shownHealth = (w: WatchedPage, farm: string, name: string): Promise<string | null> =>
  w.page.locator(`section[data-farm="${farm}"] tr[data-backend="${name}"] td[data-label="Health"] .badge`).textContent({ timeout: 5000 });

/** Nothing markup-shaped from the data became an element, and nothing in it ran. */
async function assertNothingInjected(w: WatchedPage): Promise<void> {
  const found = await w.page.evaluate(() => ({
    pwned: (window as unknown as { pwned?: number }).pwned ?? null,
    scripts: document.scripts.length,
    images: document.images.length,
    bold: document.querySelectorAll('main b').length,
  }));
  assert.deepEqual(found, { pwned: null, scripts: 1, images: 0, bold: 0 });
}

/** Times are relative to now: the page shows ages against the agent's clock (its Date header). */
function clusteredStatus(b1Message: string, now = Date.now()): object {
  const peers = [
    { node: 'lb2', vrrp: 'MASTER' as const, last_seen: new Date(now - 800).toISOString(), age_ms: 800, config_revision: 4, config_error: null },
    { node: 'lb3', vrrp: 'BACKUP' as const, age_ms: 1500, config_revision: 3, config_error: `farms[0].vip: ${HOSTILE}` },
  ];
  const cluster: ClusterView = {
    state: 'connected',
    peers: () => peers,
    views: (key) => (key === 'web/b1' ? { lb1: 'down', lb2: 'up', lb3: 'down' } : { lb1: 'up', lb2: 'up', lb3: 'up' }),
    adminViews: (key) => (key === 'web/b2' ? { lb1: 'drain', lb2: 'enabled', lb3: 'drain' } : { lb1: 'enabled', lb2: 'enabled', lb3: 'enabled' }),
    splitBrain: () => [{ virtual_router_id: 51, masters: ['lb1', 'lb2'] }],
    revision: () => 4,
    adminDisagreements: () => [{ backend: 'web/b2', views: { lb1: 'drain', lb2: 'enabled', lb3: 'drain' }, since: new Date(now - 90_000).toISOString() }],
    dataLosses: () => 0,
  };
  const checks: Record<string, { ok: boolean; message: string; latencyMs: number; at: number }> = {
    'web/b1': { ok: false, message: b1Message, latencyMs: 200.4, at: now - 700 },
    'web/b2': { ok: true, message: 'tcp connect 10.2.0.12:8080', latencyMs: 0.42, at: now - 900 },
    'web/b3': { ok: true, message: 'tcp connect 10.2.0.13:8080', latencyMs: 0.38, at: now - 400 },
  };
  const input = sampleInput({ 'web/b1': { health: 'down' }, 'web/b2': { admin: 'drain' }, 'dns/d1': { health: 'unknown' } }, {
    cluster, now, startedAt: now - 3 * 86_400_000 - 3_700_000,
    vrrp: { state: 'MASTER', since: now - 3_600_000 },
    dataplane: { driver: 'iptables', inSync: true, lastError: null, applies: 42, applyErrors: 1, lastApplyMs: 8.2, lastApplyAt: now - 5000, driftRepairs: 0 },
    backend: (farm, backend) => {
      const lastCheck = checks[`${farm}/${backend}`];
      return { since: now - 65_000, ...(lastCheck ? { lastCheck } : {}) };
    },
  });
  return {
    ...buildStatus(input),
    bgp: { state: 'established', peers: [{ address: '10.51.0.1', state: 'established', bfd: 'up' }], announced: ['10.1.0.100/32', '10.1.0.101/32'] },
  };
}

const events = (now = Date.now()): HistoryEvent[] => [
  { type: 'transition', farm: 'web', backend: 'b1', from: 'up', to: 'down', reason: HOSTILE, at: now - 5000 },
  { type: 'admin', farm: 'web', backend: 'b2', from: 'enabled', to: 'drain', at: now - 4000 },
  { type: 'apply-error', error: `iptables-restore: line 3 failed ${HOSTILE}`, at: now - 3000 },
  { type: 'transition', farm: 'web', backend: 'b3', from: 'down', to: 'up', reason: 'tcp connect 10.2.0.13:8080', at: now - 2000 },
];

describe('the status page in headless Chromium, over a made-up clustered status', available, () => {
  let lab: Lab;
  let dir: string;
  let server: NsProcess;
  let browser: NsBrowser;
  const statusFile = () => join(dir, 'status.json');
  /** Replaced in one step, so the server never reads half a file. */
  const writeStatus = (status: object) => {
    writeFileSync(`${statusFile()}.tmp`, JSON.stringify(status));
    renameSync(`${statusFile()}.tmp`, statusFile());
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-agent-page-'));
    writeStatus(clusteredStatus(`tcp connect 10.2.0.11:8080: ${HOSTILE}`));
    writeFileSync(join(dir, 'events.json'), JSON.stringify(events()));
    lab = await createLab({ bridges: [], hosts: [{ name: 'web', links: [] }] });
    server = lab.spawn('web', process.execPath, [repoPath('dist/test/metrics/page-server.js'), LISTEN, statusFile(), join(dir, 'events.json')]);
    await server.waitForLine('listening', 10_000);
    browser = await launchInNetns(lab.nsName('web'));
  });
  after(async () => {
    await browser?.close();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows node, VRRP, BGP, cluster, peers, farms, per-node views and alerts, with markup from the data as text', async () => {
    const w = await browser.open(`http://${LISTEN}/?refresh=1`);
    await w.page.locator('section[data-farm="web"]').waitFor({ timeout: 10_000 });
    const text = await w.page.locator('body').innerText();
    for (const expected of ['lb1', 'MASTER', 'established', 'connected', '2 peers', 'rev 4', 'in sync', 'iptables',
      'Split brain', 'virtual router 51 has more than one MASTER: lb1, lb2', 'Admin disagreement', 'web/b2: lb1 drain, lb2 enabled, lb3 drain',
      'Peer lb3', 'BGP', '10.51.0.1', 'Announced: 10.1.0.100/32, 10.1.0.101/32', 'apply error', 'health up → down']) {
      assert.ok(text.includes(expected), `the page shows ${JSON.stringify(expected)}`);
    }
    // The hostile markup is on the page, verbatim, as text: in the check message, a peer's
    // config error, a transition's reason and an apply error.
    assert.ok(text.split(HOSTILE).length - 1 >= 4, 'the markup is shown as text wherever it came from');
    await assertNothingInjected(w);
    assert.equal(await shownHealth(w, 'web', 'b1'), 'down');
    assert.equal(await shownHealth(w, 'dns', 'd1'), 'unknown');
    const b1Nodes = await w.page.locator('section[data-farm="web"] tr[data-backend="b1"] td[data-label="Nodes"]').innerText();
    assert.match(b1Nodes, /lb1 down\s+lb2 up\s+lb3 down/);
    const b2Nodes = await w.page.locator('section[data-farm="web"] tr[data-backend="b2"] td[data-label="Nodes"]').innerText();
    assert.match(b2Nodes, /admin: lb1 drain, lb2 enabled, lb3 drain/);
    assert.equal(await w.page.title(), '(2 down) lb1 · ha-agent', 'b1 down and d1 not known yet, both enabled');
    await saveScreenshot(w.page, 'status-page-clustered');
    await w.page.emulateMedia({ colorScheme: 'dark' });
    await saveScreenshot(w.page, 'status-page-clustered-dark');
    assert.deepEqual(w.problems, []);
    await w.page.close();
  });

  it('re-renders within one refresh when the status changes, still escaping', async () => {
    const w = await browser.open(`http://${LISTEN}/?refresh=1`);
    await w.page.locator('section[data-farm="web"]').waitFor({ timeout: 10_000 });
    const changed = JSON.parse(JSON.stringify(clusteredStatus('</script><script>window.pwned=3</script>'))) as { farms: { backends: { health: string; in_chain: boolean; share: number }[] }[] };
    changed.farms[0]!.backends[2]!.health = 'down';
    const written = Date.now();
    writeStatus(changed);
    await waitFor(async () => (await shownHealth(w, 'web', 'b3')) === 'down', { timeoutMs: 2500, intervalMs: 50, what: 'b3 down on the page' });
    console.log(`# page shows the change ${Date.now() - written} ms after the status changed (refresh 1 s)`);
    assert.ok((await w.page.locator('body').innerText()).includes('</script><script>window.pwned=3</script>'));
    await assertNothingInjected(w);
    assert.deepEqual(w.problems, []);
    await w.page.close();
  });

  it('fits a phone screen: no sideways scrolling, backends as labelled rows', async () => {
    const w = await browser.open(`http://${LISTEN}/`, { width: 390, height: 844 });
    await w.page.locator('section[data-farm="web"]').waitFor({ timeout: 10_000 });
    const widths = await w.page.evaluate(() => ({ page: document.documentElement.scrollWidth, screen: window.innerWidth }));
    assert.ok(widths.page <= widths.screen, `page ${widths.page} px wide on a ${widths.screen} px screen`);
    const label = await w.page.locator('section[data-farm="web"] tr[data-backend="b1"] td[data-label="Health"]')
      .evaluate((td) => getComputedStyle(td, '::before').content);
    assert.equal(label, '"Health"', 'each cell carries its column name on a phone');
    await saveScreenshot(w.page, 'status-page-phone');
    await w.page.locator('section[data-farm="web"]').scrollIntoViewIfNeeded();
    await saveScreenshot(w.page, 'status-page-phone-farm', false);
    assert.deepEqual(w.problems, []);
    await w.page.close();
  });
});

describe('the status page in headless Chromium, over a real agent', available, () => {
  let env: AgentLab;
  let browser: NsBrowser;
  const REFRESH_S = 2;
  before(async () => {
    env = await AgentLab.create([1, 1, 1]);
    // A second farm whose exec check prints markup: a real check message the page must not run.
    env.dir.write(`${env.dir.header()}farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: tcp, interval: 300ms, timeout: 200ms, rise: 2, fall: 2 }
    backends:
      - { name: b1, ip: 10.2.0.11, port: 8080 }
      - { name: b2, ip: 10.2.0.12, port: 8080 }
      - { name: b3, ip: 10.2.0.13, port: 8080 }
  - name: hostile
    vip: ${VIP}
    ports: [81]
    check: { type: exec, interval: 500ms, timeout: 400ms, rise: 1, fall: 1, command: [sh, -c, 'echo "${HOSTILE.replace(/"/g, '\\"')}"; exit 2'] }
    backends:
      - { name: h1, ip: 10.2.0.13, port: 8080 }
`);
    const reload = await env.ctl(['reload']);
    assert.equal(reload.exitCode, 0, reload.stderr + reload.stdout);
    browser = await launchInNetns(env.lab.nsName('lb1'));
  });
  after(async () => {
    await browser?.close();
    await env?.destroy();
  });

  it('loads with no console errors and shows a backend going down within one refresh', async () => {
    const w = await browser.open(`http://${METRICS}/?refresh=${REFRESH_S}`);
    await waitFor(async () => (await shownHealth(w, 'web', 'b2')) === 'up', { timeoutMs: 10_000, intervalMs: 100, what: 'b2 up on the page' });
    await waitFor(async () => (await shownHealth(w, 'hostile', 'h1')) === 'down', { timeoutMs: 10_000, intervalMs: 100, what: 'h1 down on the page' });
    const h1Check = await w.page.locator('section[data-farm="hostile"] tr[data-backend="h1"] td[data-label="Last check"]').innerText();
    assert.ok(h1Check.includes(`exit 2: ${HOSTILE}`), `the exec check's output is shown as text: ${h1Check}`);
    await assertNothingInjected(w);

    await env.lab.setLink('b2', 'back', 'down');
    const downAt = await waitFor(async () => {
      const s = await env.status();
      return s.farms[0]!.backends.find((b) => b.name === 'b2')!.health === 'down' ? Date.now() : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20, what: 'the agent to see b2 down' });
    await waitFor(async () => (await shownHealth(w, 'web', 'b2')) === 'down', { timeoutMs: REFRESH_S * 1000 + 1000, intervalMs: 50, what: 'b2 down on the page within one refresh' });
    const shownAfter = Date.now() - downAt;
    console.log(`# the page showed b2 down ${shownAfter} ms after the agent did (refresh ${REFRESH_S} s)`);
    assert.ok(shownAfter <= REFRESH_S * 1000 + 1000, `shown after ${shownAfter} ms`);
    // The transition is listed with its reason.
    await waitFor(async () => (await w.page.locator('#events').innerText()).includes('web/b2'), { timeoutMs: 3000, intervalMs: 100, what: 'the transition on the page' });
    assert.match(await w.page.locator('#events').innerText(), /web\/b2\s+down health up → down/);

    const json = await w.page.evaluate(async () => (await fetch('status.json')).json()) as { node: string; farms: { name: string }[] };
    const direct = await env.status();
    assert.deepEqual([json.node, json.farms.map((f) => f.name)], [direct.node, direct.farms.map((f) => f.name)]);
    await saveScreenshot(w.page, 'status-page-agent');
    assert.deepEqual(w.problems, []);
    await w.page.close();
  });
});
