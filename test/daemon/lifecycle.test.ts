// The daemon's life: SIGKILL under load fails no connection, a restart adopts the rules without
// flushing them and keeps a backend that was down out until it passes `rise` checks, SIGHUP
// reloads (a broken config is refused, a new farm leaves the others' counters alone).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, singleLbTopology, backendIp, labBackendsYaml, VIP, parseJsonLine, sleep, waitFor, type Lab, type NsProcess } from '../netns/topology.js';
import type { RateReport } from '../fixtures/bin/lib/types.js';
import { needsRoot } from '../support/root.js';
import { tcpDirect } from '../../checks/tcp.js';
import { agentDir, agentLogs, markedBackends, markRules, startAgent, stopAgentEnv, waitForChain, type AgentDir } from '../support/agent.js';

const INTERVAL = 300;
const RISE = 3;

describe('daemon lifecycle', needsRoot(), () => {
  let lab: Lab;
  let dir: AgentDir;
  let agent: NsProcess;
  const servers = new Map<number, NsProcess>();
  const serve = async (i: number) => {
    servers.set(i, await lab.serveName(`b${i}`));
  };
  const farm = (name: string, port: number) => `  - name: ${name}
    vip: ${VIP}
    ports: [${port}]
    check: { type: tcp, interval: ${INTERVAL}ms, timeout: 150ms, rise: ${RISE}, fall: 2 }
    backends:
${labBackendsYaml(3)}
`;
  /** Packet counters of a farm's MARK rules, in order. */
  const counters = async (farm: string) => (await markRules(lab, 'lb1', farm)).map((r) => r.packets);

  before(async () => {
    lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    for (const i of [1, 2, 3]) await serve(i);
    dir = agentDir();
    dir.write(`${dir.header()}farms:\n${farm('web', 80)}`);
    agent = await startAgent(lab, 'lb1', dir.configPath);
    await waitForChain(lab, 'lb1', 'web', [0, 1, 2], 3000);
  });
  after(() => stopAgentEnv({ agent, lab, dir }));

  it('says at start which tcp check mode it runs (the native half-open engine, built in CI)', () => {
    const running = parseJsonLine<{ tcp_check?: string }>(agent.lines.find((l) => l.includes('ha-agent running')) ?? '');
    assert.equal(running.tcp_check, tcpDirect.mode);
    if (process.env.CI) assert.equal(running.tcp_check, 'half-open');
  });

  it('SIGKILL under continuous load fails no connection; the restart adopts without a flush and keeps a down backend out until rise checks pass', async () => {
    await servers.get(3)!.stop(1000);
    await waitForChain(lab, 'lb1', 'web', [0, 1], 3000);
    const client = lab.spawnFixture('client', 'conn-client', ['--target', `${VIP}:80`, '--rate', '100', '--duration-ms', '60000', '--timeout-ms', '3000']);
    await sleep(500);
    agent.kill('SIGKILL');
    await agent.wait(3000);
    const countersAtKill = await counters('web');
    await sleep(700);
    // The backend recovers while no agent is watching: it must still earn its way back in.
    await serve(3);
    agent = await startAgent(lab, 'lb1', dir.configPath);
    const runningAt = Date.now();
    assert.deepEqual(await markedBackends(lab, 'lb1', 'web'), [0, 1], 'b3 was down before the kill and stays out at start');
    const countersAfter = await counters('web');
    assert.equal(countersAfter.length, countersAtKill.length);
    countersAfter.forEach((n, i) => assert.ok(n >= countersAtKill[i]!, `rule ${i} counter went from ${countersAtKill[i]} to ${n}: the chain was rewritten`));
    assert.ok(countersAtKill.some((n) => n > 0), 'the load reached the MARK rules');
    const backAt = await waitForChain(lab, 'lb1', 'web', [0, 1, 2], 5000);
    assert.ok(backAt - runningAt >= (RISE - 1) * INTERVAL, `b3 came back after ${backAt - runningAt} ms, before ${RISE} checks`);
    await sleep(300);
    client.kill('SIGTERM');
    await client.wait(10_000);
    const report = parseJsonLine<RateReport>(client.lines.join('\n'));
    assert.ok(report.records.length > 100, `only ${report.records.length} connections`);
    assert.equal(report.failures, 0, JSON.stringify(report.errors));
  });

  it('SIGHUP with a broken config keeps the running one', async () => {
    dir.write(`${dir.header()}farms:\n${farm('web', 80).replace(`ip: ${backendIp(2)}`, 'ip: 10.2.0.300')}`);
    const before = agent.lines.length;
    agent.kill('SIGHUP');
    await waitFor(() => agent.lines.slice(before).some((l) => l.includes('reload refused')), { timeoutMs: 3000, what: 'reload refused log' });
    assert.ok(agent.lines.slice(before).some((l) => l.includes('farms[0].backends[1].ip: \\"10.2.0.300\\" is not an IPv4 address')));
    assert.deepEqual(await markedBackends(lab, 'lb1', 'web'), [0, 1, 2]);
    assert.equal(agent.exited, false);
  });

  it('SIGHUP adding a farm: the new farm appears and the other farm keeps its counters', async () => {
    await lab.execFixture('client', 'conn-client', ['--target', `${VIP}:80`, '--count', '30', '--concurrency', '3']);
    const webBefore = await counters('web');
    assert.ok(webBefore.some((n) => n > 0));
    dir.write(`${dir.header()}farms:\n${farm('web', 80)}${farm('more', 81)}`);
    agent.kill('SIGHUP');
    await waitForChain(lab, 'lb1', 'more', [0, 1, 2], 3000);
    const webAfter = await counters('web');
    webAfter.forEach((n, i) => assert.ok(n >= webBefore[i]!, `web rule ${i}: ${webBefore[i]} -> ${n}`));
    assert.equal(agentLogs(agent, (e) => String(e.msg).startsWith('config reloaded')).at(-1)?.changed?.toString(), 'more');
  });
});
