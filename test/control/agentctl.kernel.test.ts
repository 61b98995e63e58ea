// agentctl against a real daemon in a netns lab: status and /metrics agree with the kernel,
// drain/maintenance/enable act on real connections, and admin states survive a restart.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VIP, sleep, waitFor, type NsProcess } from '../netns/topology.js';
import { connReport } from '../netns/fixtures.js';
import type { Status } from '../../agent/control/status.js';
import { needsRoot } from '../support/root.js';
import { spawnAgentctl } from '../support/agent.js';
import { streamReport } from '../support/streams.js';
import { rawConnect } from './raw.js';
import { parsePrometheusText, valueOf } from '../metrics/prom-text.js';
import { tableRows } from './table.js';
import { AgentLab, CHECK_INTERVAL_MS } from './agent-lab.js';

const backendOf = (s: Status, name: string) => s.farms[0]!.backends.find((b) => b.name === name)!;

/** Every backend's status agrees with the MARK chain in the kernel. */
async function assertAgreesWithKernel(env: AgentLab, s: Status): Promise<void> {
  const kernel = await env.kernelShares();
  const inChain = s.farms[0]!.backends.filter((b) => b.in_chain);
  assert.ok(Math.abs(inChain.reduce((sum, b) => sum + b.share, 0) - 1) < 1e-5, 'in-chain shares sum to 1');
  assert.deepEqual([...kernel.keys()].sort(), inChain.map((b) => b.mark).sort(), 'the kernel chain holds exactly the in-chain marks');
  for (const b of s.farms[0]!.backends) {
    if (b.in_chain) assert.ok(Math.abs(kernel.get(b.mark)! - b.share) < 1e-5, `${b.name}: kernel share ${kernel.get(b.mark)} vs status ${b.share}`);
    else assert.equal(b.share, 0, `${b.name} is out of the chain with share 0`);
  }
}

describe('agentctl with a daemon in a netns lab', needsRoot(), () => {
  let env: AgentLab;
  let follower: ReturnType<typeof spawnAgentctl> | undefined;
  const followed: string[] = [];
  before(async () => {
    env = await AgentLab.create([1, 2, 1]);
  });
  after(async () => {
    follower?.kill('SIGINT');
    await follower?.catch(() => undefined);
    await env?.destroy();
  });

  it('status --json has the SPEC shape and agrees with the kernel; the table shows the same', async () => {
    const s = await env.status();
    assert.equal(s.node, 'lb1');
    assert.equal(s.vrrp.state, 'DISABLED');
    assert.deepEqual(s.cluster, { state: 'disabled', peers: [] });
    assert.deepEqual([s.dataplane.driver, s.dataplane.in_sync, s.dataplane.last_error], ['iptables', true, null]);
    const farm = s.farms[0]!;
    assert.deepEqual([farm.name, farm.vip, farm.ports], ['web', VIP, [80]]);
    for (const b of farm.backends) {
      assert.deepEqual(Object.keys(b).filter((k) => ['name', 'ip', 'port', 'weight', 'mark', 'health', 'admin', 'share'].includes(k)).length, 8);
      assert.match(b.mark, /^0x[0-9a-f]+$/);
      assert.equal(b.health, 'up');
      assert.equal(b.admin, 'enabled');
      assert.equal(b.last_check?.ok, true);
    }
    assert.deepEqual(farm.backends.map((b) => b.share), [0.25, 0.5, 0.25]);
    await assertAgreesWithKernel(env, s);

    const table = await env.ctl(['status']);
    assert.equal(table.exitCode, 0);
    const rows = tableRows(table.stdout, 'web');
    for (const b of farm.backends) {
      const [, address, health, admin, weight, share, mark] = rows.get(b.name)!;
      assert.deepEqual([address, health, admin, weight, share, mark], [`${b.ip}:8080`, b.health, b.admin, String(b.weight), `${(b.share * 100).toFixed(1)}%`, b.mark]);
    }
  });

  it('/metrics parses strictly and agrees with status', async () => {
    const s = await env.status();
    const m = parsePrometheusText(await env.metricsText());
    for (const b of s.farms[0]!.backends) {
      const labels = { farm: 'web', backend: b.name };
      assert.equal(valueOf(m, 'ha_agent_backend_up', labels), 1);
      assert.equal(valueOf(m, 'ha_agent_backend_health', { ...labels, state: 'up' }), 1);
      assert.equal(valueOf(m, 'ha_agent_backend_share_ratio', labels), b.share);
      assert.equal(valueOf(m, 'ha_agent_backend_admin_state', { ...labels, state: 'enabled' }), 1);
      assert.ok(valueOf(m, 'ha_agent_check_duration_seconds_count', labels) >= 2, 'checks were timed');
    }
    assert.equal(valueOf(m, 'ha_agent_vrrp_state', { state: 'DISABLED' }), 1);
    assert.equal(valueOf(m, 'ha_agent_cluster_state', { state: 'disabled' }), 1);
    assert.equal(valueOf(m, 'ha_agent_applies_total'), s.dataplane.applies);
    assert.equal(valueOf(m, 'ha_agent_apply_errors_total'), 0);
    assert.equal(valueOf(m, 'ha_agent_drift_repairs_total', { how: 'event' }) + valueOf(m, 'ha_agent_drift_repairs_total', { how: 'sweep' }), s.dataplane.drift_repairs);
    assert.ok(valueOf(m, 'ha_agent_apply_duration_seconds_count') >= 1);
    assert.ok(valueOf(m, 'process_resident_memory_bytes') > 0);
  });

  it('rules shows the applied ruleset and that the kernel matches it', async () => {
    const r = await env.ctl(['rules']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /^:HAM-web /m);
    assert.match(r.stdout, /# the kernel matches these iptables rules\n$/);
  });

  let stream: NsProcess;
  let drainedAt = 0;
  it('drain: b1 leaves the MARK chain within 200 ms and its established connections keep working', async () => {
    follower = spawnAgentctl(env.dir.socket, ['events', '-n', '0', '--follow', '--json']);
    follower.stdout!.on('data', (c: Buffer) => followed.push(...c.toString().split('\n').filter(Boolean)));
    stream = env.lab.spawnFixture('client', 'stream-client', ['--target', `${VIP}:80`, '--count', '24', '--interval-ms', '100']);
    await stream.waitForLine('ready 24', 10_000);
    const before = await streamReport(stream);
    assert.ok(before.connections.some((c) => c.backend === 'b1'), 'some connections landed on b1');
    const mark = backendOf(await env.status(), 'b1').mark;

    // The agent answers a backend request only once the transaction is in the kernel, so the
    // time from writing the request to the answer is the drain latency. It is taken on a raw
    // connection (the API agentctl speaks) so Node's own start-up time is not counted.
    const conn = await rawConnect(env.dir.socket);
    const sent = performance.now();
    conn.socket.write(`${JSON.stringify({ v: 1, id: 1, cmd: 'backend', farm: 'web', backend: 'b1', admin: 'drain' })}\n`);
    const [answer] = await conn.waitLines(1, 5000);
    const latency = performance.now() - sent;
    drainedAt = Date.now();
    conn.socket.destroy();
    assert.equal((answer as { ok: boolean }).ok, true, JSON.stringify(answer));
    assert.equal((await env.kernelShares()).has(mark), false, 'b1 left the MARK chain');
    console.log(`# drain latency: ${latency.toFixed(0)} ms from the request to the answer sent after the apply`);
    assert.ok(latency < 200, `b1 left the chain after ${latency.toFixed(0)} ms`);
    const shown = await env.ctl(['status']);
    assert.match(shown.stdout, /b1\s.*drain/);
    await assertAgreesWithKernel(env, await env.status());

    await sleep(1000);
    const after = await streamReport(stream);
    for (const c of after.connections.filter((x) => x.backend === 'b1')) {
      assert.ok(c.ok && c.error === null && c.lastOkMs! > drainedAt + 500, `drained connection ${c.id} still echoes: ${JSON.stringify(c)}`);
    }
    const fresh = await connReport(env.lab, `${VIP}:80`, { count: 80, concurrency: 8 });
    assert.equal(fresh.failures, 0);
    assert.equal(fresh.counts.b1, undefined, `no new connection reaches b1: ${JSON.stringify(fresh.counts)}`);
    await waitFor(() => followed.some((l) => JSON.parse(l).type === 'admin' && JSON.parse(l).to === 'drain'), { what: 'the follower to see the drain' });
  });

  it('maintenance: b1\'s checks stop and its connections are cut', async () => {
    const r = await env.ctl(['backend', 'web', 'b1', 'maintenance']);
    assert.equal(r.exitCode, 0, r.stderr);
    const first = backendOf(await env.status(), 'b1');
    assert.deepEqual([first.admin, first.in_chain, first.share], ['maintenance', false, 0]);
    await sleep(CHECK_INTERVAL_MS * 5);
    const later = await env.status();
    assert.equal(backendOf(later, 'b1').last_check?.at, first.last_check?.at, 'no check ran on b1');
    assert.notEqual(backendOf(later, 'b2').last_check?.at, first.last_check?.at, 'the others are still checked');
    const report = await streamReport(stream);
    const onB1 = report.connections.filter((c) => c.backend === 'b1');
    assert.ok(onB1.length > 0 && onB1.every((c) => !c.ok && c.error !== null), `b1 connections were cut: ${JSON.stringify(onB1)}`);
    assert.ok(report.connections.filter((c) => c.backend !== 'b1').every((c) => c.ok), 'the other connections are untouched');
    await assertAgreesWithKernel(env, later);
  });

  it('enable: b1 returns to the chain once its checks pass', async () => {
    const mark = backendOf(await env.status(), 'b1').mark;
    const started = Date.now();
    const r = await env.ctl(['backend', 'web', 'b1', 'enable']);
    assert.equal(r.exitCode, 0, r.stderr);
    const back = await waitFor(async () => ((await env.kernelShares()).has(mark) ? Date.now() : undefined), { timeoutMs: 5000, intervalMs: 20, what: 'b1 back in the chain' });
    // rise: 2 means at least one interval between the two passing checks.
    assert.ok(back - started >= CHECK_INTERVAL_MS, `b1 came back after ${back - started} ms, before its checks could pass`);
    const s = await env.status();
    assert.deepEqual([backendOf(s, 'b1').health, backendOf(s, 'b1').admin, backendOf(s, 'b1').in_chain], ['up', 'enabled', true]);
    await assertAgreesWithKernel(env, s);
    const events = (await env.ctl(['events', '-n', '20'])).stdout;
    assert.match(events, /web\/b1 {2}admin maintenance -> enabled\n.*web\/b1 {2}health up -> down: leaving maintenance: waiting for checks to pass\n.*web\/b1 {2}health down -> up: /s);
    const types = followed.map((l) => JSON.parse(l) as { type: string; to: string }).map((e) => `${e.type}:${e.to}`);
    assert.deepEqual(types.filter((t) => t.startsWith('admin')), ['admin:drain', 'admin:maintenance', 'admin:enabled']);
  });

  it('an admin state set by agentctl survives an agent restart', async () => {
    assert.equal((await env.ctl(['backend', 'web', 'b2', 'drain'])).exitCode, 0);
    const mark = backendOf(await env.status(), 'b2').mark;
    const running = await env.kernelShares();
    assert.ok(running.size > 0);
    assert.equal(await env.stop(), 0);
    // SIGTERM leaves every rule as it was: the farm keeps serving while the agent is away.
    assert.deepEqual(await env.kernelShares(), running);
    const saved = JSON.parse(await readFile(join(env.dir.dir, 'state', 'state.json'), 'utf8')) as { backends: Record<string, { admin?: string }> };
    assert.equal(saved.backends['web/b2']?.admin, 'drain');
    assert.equal((await env.kernelShares()).has(mark), false, 'the rules stay in place while the agent is stopped');
    await env.start();
    const s = await env.status();
    assert.deepEqual([backendOf(s, 'b2').admin, backendOf(s, 'b2').in_chain, backendOf(s, 'b2').share], ['drain', false, 0]);
    await assertAgreesWithKernel(env, s);
    assert.equal((await env.ctl(['backend', 'web', 'b2', 'enable'])).exitCode, 0);
    await assertAgreesWithKernel(env, await env.status());
  });
});
