// `npm run lab`: the agent's main job on a self-contained lab. Builds client, one LB and three
// backends in network namespaces, runs `ha-agent run` inside the LB, sends real connections
// through the VIP, takes a backend down and back, and shows the split next to the shares.

import { createLab, singleLbTopology, backendIp, VIP, parseJsonLine, waitFor, type Lab, type NsProcess } from '../netns/topology.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import { agentDir, markedBackends, startAgent } from '../support/agent.js';

const WEIGHTS = [1, 2, 3];
const CONNECTIONS = 1200;
const say = (text = '') => process.stdout.write(`${text}\n`);

async function split(lab: Lab, title: string, shares: number[]): Promise<void> {
  const r = await lab.execFixture('client', 'conn-client', ['--target', `${VIP}:80`, '--count', String(CONNECTIONS), '--concurrency', '16'], { timeoutMs: 120_000 });
  const report = parseJsonLine<ConnReport>(r.stdout);
  say(`\n${title}: ${CONNECTIONS} new TCP connections to ${VIP}:80 (${report.failures} failed, ${report.durationMs} ms)`);
  say('  backend   address          configured share   connections   observed share');
  shares.forEach((share, i) => {
    const name = `b${i + 1}`;
    const n = report.counts[name] ?? 0;
    say(`  ${name.padEnd(9)} ${`${backendIp(i + 1)}:8080`.padEnd(16)} ${`${(share * 100).toFixed(1)} %`.padStart(16)}   ${String(n).padStart(11)}   ${`${((n / CONNECTIONS) * 100).toFixed(1)} %`.padStart(14)}`);
  });
}

async function main(): Promise<void> {
  say('ha-agent lab: client -- lb1 (ha-agent, iptables) -- b1, b2, b3  (network namespaces, torn down at exit)');
  const lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
  const dir = agentDir('ha-agent-lab-');
  let agent: NsProcess | undefined;
  try {
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    const servers = await Promise.all([1, 2, 3].map(async (i) => {
      const s = lab.spawnFixture(`b${i}`, 'name-server', ['--port', '8080', '--name', `b${i}`]);
      await s.waitForLine('listening');
      return s;
    }));
    dir.write(`${dir.header()}farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: tcp, interval: 250ms, timeout: 100ms, rise: 2, fall: 2 }
    backends:
${WEIGHTS.map((w, i) => `      - { name: b${i + 1}, ip: ${backendIp(i + 1)}, port: 8080, weight: ${w} }`).join('\n')}
`);
    agent = await startAgent(lab, 'lb1', dir.configPath);
    await waitFor(async () => (await markedBackends(lab, 'lb1', 'web')).length === 3, { timeoutMs: 5000, what: 'the farm rules' });
    const rules = await lab.exec('lb1', 'iptables', ['-t', 'mangle', '-S', 'HAM-web']);
    say('\nThe MARK chain ha-agent applied in lb1 (iptables -t mangle -S HAM-web):');
    rules.stdout.trim().split('\n').forEach((l) => say(`  ${l}`));
    const total = WEIGHTS.reduce((a, b) => a + b, 0);
    await split(lab, 'All backends up', WEIGHTS.map((w) => w / total));

    say('\nStopping b2\'s server; the agent takes it out of the chain after 2 failed checks...');
    const stoppedAt = Date.now();
    await servers[1]!.stop(1000);
    await waitFor(async () => !(await markedBackends(lab, 'lb1', 'web')).includes(1), { timeoutMs: 5000, intervalMs: 20, what: 'b2 to leave' });
    say(`b2 left the MARK chain ${Date.now() - stoppedAt} ms after its server stopped.`);
    const without = WEIGHTS[0]! + WEIGHTS[2]!;
    await split(lab, 'b2 down', [WEIGHTS[0]! / without, 0, WEIGHTS[2]! / without]);

    say('\nStarting b2 again; it returns after 2 passed checks...');
    await lab.spawnFixture('b2', 'name-server', ['--port', '8080', '--name', 'b2']).waitForLine('listening');
    await waitFor(async () => (await markedBackends(lab, 'lb1', 'web')).includes(1), { timeoutMs: 5000, intervalMs: 20, what: 'b2 to return' });
    await split(lab, 'b2 back', WEIGHTS.map((w) => w / total));
    say('\nAgent log (transitions):');
    agent.lines.filter((l) => l.includes('"reason"')).forEach((l) => {
      const e = JSON.parse(l) as { msg: string };
      say(`  ${e.msg}`);
    });
  } finally {
    await agent?.stop(3000);
    await lab.destroy();
    dir.remove();
    say('\nlab torn down.');
  }
}

await main();
