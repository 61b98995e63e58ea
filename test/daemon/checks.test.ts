// The daemon in the LB namespace: tcp, http and exec checks take backends out of the MARK chain
// and put them back, within the check schedule plus a small margin; slowstart ramps a recovered
// backend's share up in steps.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, singleLbTopology, labBackendsYaml, VIP, sleep, waitFor, type Lab, type NsProcess } from '../netns/topology.js';
import { connReport } from '../netns/fixtures.js';
import { needsRoot } from '../support/root.js';
import { agentDir, agentLogs, kernelShares, markRules, startAgent, stopAgentEnv, waitForChain, type AgentDir } from '../support/agent.js';

const INTERVAL = 200;
const TIMEOUT = 100;
const FALL = 3;
const RISE = 2;
const SLOWSTART = 2000;

describe('health checks drive the MARK chain', needsRoot(), () => {
  let lab: Lab;
  let dir: AgentDir;
  let agent: NsProcess;
  const tcpServers: NsProcess[] = [];
  const startTcp = async (i: number) => {
    tcpServers[i] = await lab.serveName(`b${i}`);
  };
  const http = (i: number, path: string) => lab.exec(`b${i}`, process.execPath, ['-e', `fetch('http://127.0.0.1:8081${path}').then(r => r.text())`]);

  before(async () => {
    lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    for (let i = 1; i <= 3; i++) await startTcp(i);
    await Promise.all([1, 2, 3].map((i) => lab.spawnFixture(`b${i}`, 'http-server', ['--port', '8081', '--name', `b${i}`]).waitForLine('listening')));
    dir = agentDir();
    const script = join(dir.dir, 'check.sh');
    // An exec check written the way operators write them: it gets {ip} and {port} as arguments.
    writeFileSync(script, '#!/bin/sh\nexec /usr/lib/nagios/plugins/check_tcp -H "$1" -p "$2" -t 1\n');
    chmodSync(script, 0o755);
    const timing = `interval: ${INTERVAL}ms, timeout: ${TIMEOUT}ms, rise: ${RISE}, fall: ${FALL}`;
    dir.write(`${dir.header()}dataplane: { verify_schedule: "*/1 * * * * *" }
farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: tcp, ${timing} }
    backends:
${labBackendsYaml(3)}
  - name: api
    vip: ${VIP}
    ports: [81]
    check: { type: http, path: /health, expect_status: [200], expect_body: "^name=b", ${timing} }
    backends:
${labBackendsYaml(3, { port: 8081 })}
  - name: ex
    vip: ${VIP}
    ports: [82]
    check: { type: exec, command: [${script}, "{ip}", "{port}"], interval: 500ms, timeout: 400ms, rise: 1, fall: 1 }
    backends:
${labBackendsYaml(1)}
  - name: hang
    vip: ${VIP}
    ports: [83]
    check: { type: exec, command: [sleep, "30"], interval: 500ms, timeout: 200ms, rise: 1, fall: 1 }
    backends:
${labBackendsYaml(1)}
  - name: ramp
    vip: ${VIP}
    ports: [84]
    check: { type: tcp, ${timing}, slowstart: ${SLOWSTART}ms }
    backends:
${labBackendsYaml(2)}
`);
    agent = await startAgent(lab, 'lb1', dir.configPath);
    await waitForChain(lab, 'lb1', 'web', [0, 1, 2], 3000);
  });
  after(() => stopAgentEnv({ agent, lab, dir }));

  it(`tcp: a dead backend leaves within fall×interval + timeout + 500 ms and returns within rise×interval + 500 ms`, async () => {
    const killedAt = Date.now();
    await tcpServers[2]!.stop(1000);
    const goneAt = await waitForChain(lab, 'lb1', 'web', [0, 2], 5000);
    const detection = goneAt - killedAt;
    assert.ok(detection <= FALL * INTERVAL + TIMEOUT + 500, `left after ${detection} ms`);

    const report = await connReport(lab, `${VIP}:80`, { count: 60, concurrency: 6 });
    assert.equal(report.failures, 0, JSON.stringify(report.errors));
    assert.equal(report.counts.b2, undefined, 'no new connection went to the dead backend');
    // Shares recomputed for the two left: half each, not b2's third left as a hole.
    assert.deepEqual((await markRules(lab, 'lb1', 'web')).map((r) => r.probability), ['1.00000000000', '0.50000000000']);
    const transition = agentLogs(agent, (e) => e.farm === 'web' && e.backend === 'b2' && e.to === 'down');
    assert.equal(transition.length, 1, 'the transition is logged once');
    assert.match(String(transition[0]!.reason), /^3 consecutive failures: TCP connect to 10\.2\.0\.12:8080: ECONNREFUSED/);

    await startTcp(2);
    const upFrom = Date.now();
    const backAt = await waitForChain(lab, 'lb1', 'web', [0, 1, 2], 5000);
    assert.ok(backAt - upFrom <= RISE * INTERVAL + 500, `came back after ${backAt - upFrom} ms`);
    const probabilities = (await markRules(lab, 'lb1', 'web')).map((r) => r.probability);
    assert.deepEqual(probabilities, ['1.00000000000', '0.50000000000', '0.33333333349']);
  });

  it('http: a backend answering 500, or the wrong body, goes down; fixed, it comes back', async () => {
    await http(1, '/__fail?status=500');
    await waitForChain(lab, 'lb1', 'api', [1, 2], 3000);
    await http(1, '/__ok');
    await waitForChain(lab, 'lb1', 'api', [0, 1, 2], 3000);
    await http(3, '/__body?text=oops');
    await waitForChain(lab, 'lb1', 'api', [0, 1], 3000);
    const reason = agentLogs(agent, (e) => e.farm === 'api' && e.backend === 'b3' && e.to === 'down')[0]?.reason;
    assert.match(String(reason), /body/);
    await http(3, '/__ok');
    await waitForChain(lab, 'lb1', 'api', [0, 1, 2], 3000);
  });

  it('exec: a check_tcp script with {ip} and {port} keeps its backend up; a hanging command is killed at the timeout and counts as a failure', async () => {
    await waitForChain(lab, 'lb1', 'ex', [0], 3000);
    await waitForChain(lab, 'lb1', 'hang', [], 3000);
    const reason = agentLogs(agent, (e) => e.farm === 'hang' && e.to === 'down')[0]?.reason;
    assert.match(String(reason), /timed out after \d+ ms/);
    // Unknown health counts as usable, so the chain alone would not show the script ever passed.
    const passed = await waitFor(() => agentLogs(agent, (e) => e.farm === 'ex' && e.to === 'up').length > 0, { timeoutMs: 3000, what: 'ex up' }).then(() => true, () => false);
    assert.ok(passed, 'check_tcp with {ip} and {port} never brought ex up');
    const failed = agentLogs(agent, (e) => e.farm === 'ex' && e.to === 'down');
    assert.equal(failed.length, 0, `ex went down: ${JSON.stringify(failed)}`);
    // Killed, not abandoned: after 6+ timed-out checks at most the one in flight is alive.
    await sleep(3000);
    const sleepers = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\u000030\u0000' && Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === agent.pid;
      } catch {
        return false; // exited while we looked
      }
    });
    assert.ok(sleepers.length <= 1, `${sleepers.length} hanging checks still alive`);
  });

  it('drift: flushing the farm chain by hand is repaired within the schedule and logged', async () => {
    const seen = agent.lines.length;
    await lab.exec('lb1', 'iptables', ['-t', 'mangle', '-F', 'HAM-web']);
    await waitForChain(lab, 'lb1', 'web', [0, 1, 2], 3000);
    // Logged for this flush, not for an earlier one.
    // The kernel's event names the flushed chain and its writer; the agent repairs at once.
    const drifted = await waitFor(() => agent.lines.slice(seen).some((l) => l.includes('rules changed by iptables') && l.includes('HAM-web')), { timeoutMs: 1000, what: 'the drift log line' }).then(() => true, () => false);
    assert.ok(drifted, 'the repair of this flush was not logged');
  });

  it('slowstart: a recovered backend enters with a small share that grows in steps to its full one over the slowstart time', async () => {
    await tcpServers[2]!.stop(1000);
    await waitForChain(lab, 'lb1', 'ramp', [0], 5000);
    await startTcp(2);
    await waitForChain(lab, 'lb1', 'ramp', [0, 1], 5000);
    const firstSeen = Date.now();
    const mark = (await markRules(lab, 'lb1', 'ramp')).find((r) => r.index === 1)!.mark!;
    const seen: { at: number; share: number }[] = [];
    await waitFor(async () => {
      const share = (await kernelShares(lab, 'lb1', 'ramp')).get(mark) ?? 0;
      seen.push({ at: Date.now() - firstSeen, share });
      return Math.abs(share - 0.5) < 1e-6;
    }, { timeoutMs: SLOWSTART + 2000, intervalMs: 50, what: 'b2 back at its full share' });
    const shares = seen.map((s) => s.share);
    // One tenth of its weight first (HAProxy rounds the ramp up): 0.1 / 1.1 of the farm.
    assert.ok(shares[0]! < 0.15, `entered with ${shares[0]}`);
    assert.ok(shares.every((s, i) => i === 0 || s >= shares[i - 1]! - 1e-9), `the share went down on the way: ${shares.join(', ')}`);
    assert.ok(new Set(shares.map((s) => s.toFixed(4))).size >= 4, `not a ramp in steps: ${shares.join(', ')}`);
    const full = seen.at(-1)!.at;
    assert.ok(full >= SLOWSTART * 0.7 && full <= SLOWSTART + 1000, `full share after ${full} ms`);
  });
});
