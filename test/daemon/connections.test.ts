// What clients see when backends leave: established connections cut (or kept) on down, kept on
// drain, refused fast when nothing is left, and priority groups failing over and back.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, singleLbTopology, backendIp, VIP, sleep, waitFor, type Lab, type NsProcess } from '../netns/topology.js';
import { connReport } from '../netns/fixtures.js';
import type { StreamReport } from '../fixtures/bin/lib/types.js';
import { needsRoot } from '../support/root.js';
import { agentDir, startAgent, stopAgentEnv, waitForChain, type AgentDir } from '../support/agent.js';
import { streamReport } from '../support/streams.js';

const timing = 'interval: 200ms, timeout: 100ms, rise: 2, fall: 2';

describe('connections when backends leave', needsRoot(), () => {
  let lab: Lab;
  let dir: AgentDir;
  let agent: NsProcess;
  /** Health endpoints (port 9000) separate from the data servers, so a backend can fail its
   * check while its established connections stay open at the TCP level. */
  const health = new Map<number, NsProcess>();
  const healthUp = async (i: number) => {
    health.set(i, await lab.serveName(`b${i}`, `h${i}`, 9000));
  };
  const healthDown = async (i: number) => health.get(i)?.stop(1000);

  const config = (opts: { cutOnDown: boolean; adminB1?: string }) => `${dir.header()}farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    cut_on_down: ${opts.cutOnDown}
    check: { type: tcp, port: 9000, ${timing} }
    backends:
      - { name: b1, ip: ${backendIp(1)}, port: 8080, admin: ${opts.adminB1 ?? 'enabled'} }
      - { name: b2, ip: ${backendIp(2)}, port: 8080 }
  - name: prio
    vip: ${VIP}
    ports: [81]
    check: { type: tcp, port: 9000, ${timing} }
    backends:
      - { name: main, ip: ${backendIp(3)}, port: 8080, priority: 1 }
      - { name: spare, ip: ${backendIp(4)}, port: 8080, priority: 2 }
`;

  before(async () => {
    lab = await createLab(singleLbTopology({ backends: 4, mode: 'dnat' }));
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    await Promise.all([1, 2, 3, 4].map((i) => lab.serveName(`b${i}`)));
    for (const i of [1, 2, 3, 4]) await healthUp(i);
    dir = agentDir();
    dir.write(config({ cutOnDown: true }));
    agent = await startAgent(lab, 'lb1', dir.configPath);
    await waitForChain(lab, 'lb1', 'web', [0, 1], 3000);
  });
  after(() => stopAgentEnv({ agent, lab, dir }));

  /** Opens long-lived connections, returns a function that reports their state. */
  async function streams(port: number, count: number) {
    const client = lab.spawnFixture('client', 'stream-client', ['--target', `${VIP}:${port}`, '--count', String(count), '--interval-ms', '50', '--duration-ms', '60000']);
    await client.waitForLine(/^ready/, 5000);
    return {
      report: () => streamReport(client),
      stop: () => client.stop(1000),
    };
  }
  const onB1 = (r: StreamReport) => r.connections.filter((c) => c.backend === 'b1');

  it('cut_on_down true: established connections to a backend that goes down are cut promptly', async () => {
    const s = await streams(80, 20);
    await sleep(200);
    const before = await s.report();
    assert.ok(onB1(before).length > 0 && onB1(before).every((c) => c.ok), 'some connections are on b1 and healthy');
    await healthDown(1);
    await waitForChain(lab, 'lb1', 'web', [1], 3000);
    await sleep(1000);
    const after = await s.report();
    const b1 = onB1(after);
    assert.ok(b1.length > 0 && b1.every((c) => !c.ok && c.error), `connections on b1 were not cut: ${JSON.stringify(b1)}`);
    assert.ok(after.connections.filter((c) => c.backend === 'b2').every((c) => c.ok), 'connections on b2 are untouched');
    await s.stop();
    await healthUp(1);
    await waitForChain(lab, 'lb1', 'web', [0, 1], 3000);
  });

  it('cut_on_down false: they are kept', async () => {
    dir.write(config({ cutOnDown: false }));
    const seen = agent.lines.length;
    agent.kill('SIGHUP');
    await waitFor(() => agent.lines.slice(seen).some((l) => l.includes('config reloaded')), { timeoutMs: 3000, what: 'the reload with cut_on_down false' });
    const s = await streams(80, 20);
    await sleep(200);
    await healthDown(1);
    await waitForChain(lab, 'lb1', 'web', [1], 3000);
    await sleep(1000);
    const b1 = onB1(await s.report());
    assert.ok(b1.length > 0 && b1.every((c) => c.ok), `connections on b1 broke: ${JSON.stringify(b1)}`);
    await s.stop();
    await healthUp(1);
    await waitForChain(lab, 'lb1', 'web', [0, 1], 3000);
  });

  it('drain: established connections keep working while new ones go elsewhere', async () => {
    const s = await streams(80, 20);
    await sleep(200);
    dir.write(config({ cutOnDown: true, adminB1: 'drain' }));
    agent.kill('SIGHUP');
    await waitForChain(lab, 'lb1', 'web', [1], 3000);
    const report = await connReport(lab, `${VIP}:80`, { count: 40, concurrency: 4 });
    assert.deepEqual(Object.keys(report.counts), ['b2']);
    await sleep(500);
    const b1 = onB1(await s.report());
    assert.ok(b1.length > 0 && b1.every((c) => c.ok), `drained connections broke: ${JSON.stringify(b1)}`);
    await s.stop();
    dir.write(config({ cutOnDown: true }));
    agent.kill('SIGHUP');
    await waitForChain(lab, 'lb1', 'web', [0, 1], 3000);
  });

  it('all backends down: new connections are refused within 1 s; the first backend back serves again', async () => {
    await healthDown(1);
    await healthDown(2);
    await waitForChain(lab, 'lb1', 'web', [], 3000);
    const started = Date.now();
    const report = await connReport(lab, `${VIP}:80`, { count: 5, concurrency: 5, connTimeoutMs: 3000 });
    assert.equal(report.failures, 5);
    assert.ok(Object.keys(report.errors).every((e) => /ECONNREFUSED/.test(e)), JSON.stringify(report.errors));
    assert.ok(Date.now() - started < 1000 + 500, `refusal took ${Date.now() - started} ms`);
    // The client's own clock, without node's start-up: every refusal within the 1 s.
    assert.ok(report.durationMs < 1000, `the client waited ${report.durationMs} ms for its refusals`);
    await healthUp(2);
    await waitForChain(lab, 'lb1', 'web', [1], 3000);
    const back = await connReport(lab, `${VIP}:80`, { count: 10, concurrency: 2 });
    assert.deepEqual(back.counts, { b2: 10 });
    await healthUp(1);
  });

  it('priority: group 1 down sends traffic to group 2; group 1 back takes it again', async () => {
    await waitForChain(lab, 'lb1', 'prio', [0], 3000);
    await healthDown(3);
    await waitForChain(lab, 'lb1', 'prio', [1], 3000);
    const during = await connReport(lab, `${VIP}:81`, { count: 10, concurrency: 2 });
    assert.deepEqual(during.counts, { b4: 10 });
    await healthUp(3);
    await waitForChain(lab, 'lb1', 'prio', [0], 3000);
    const after = await connReport(lab, `${VIP}:81`, { count: 10, concurrency: 2 });
    assert.deepEqual(after.counts, { b3: 10 });
  });
});
