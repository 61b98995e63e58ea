// `npm run lab`: the agent's main job on a self-contained lab. Builds a client, an LB pair and
// three backends in network namespaces, runs `ha-agent run` (with its keepalived) inside each
// LB, sends real connections through the VIP, takes a backend down and back, then kills the
// MASTER's agent and shows the BACKUP taking over with the same rules. With --active-active, the
// three-LB lab of test/activeactive/demo.ts instead.

import { backendIp, labBackendsYaml, VIP, waitFor, type Lab } from '../netns/topology.js';
import { connReport } from '../netns/fixtures.js';
import { markedBackends, runAgentctl } from '../support/agent.js';
import { Pair, pairConfig, LBS } from '../failover/pair.js';
import { execa } from 'execa';
import { activeActiveLab } from '../activeactive/demo.js';

const WEIGHTS = [1, 2, 3];
const CONNECTIONS = 1200;
const say = (text = '') => process.stdout.write(`${text}\n`);

async function split(lab: Lab, title: string, shares: number[]): Promise<void> {
  const report = await connReport(lab, `${VIP}:80`, { count: CONNECTIONS, concurrency: 16 }, { timeoutMs: 120_000 });
  say(`\n${title}: ${CONNECTIONS} new TCP connections to ${VIP}:80 (${report.failures} failed, ${report.durationMs} ms)`);
  say('  backend   address          configured share   connections   observed share');
  shares.forEach((share, i) => {
    const name = `b${i + 1}`;
    const n = report.counts[name] ?? 0;
    say(`  ${name.padEnd(9)} ${`${backendIp(i + 1)}:8080`.padEnd(16)} ${`${(share * 100).toFixed(1)} %`.padStart(16)}   ${String(n).padStart(11)}   ${`${((n / CONNECTIONS) * 100).toFixed(1)} %`.padStart(14)}`);
  });
}

async function main(): Promise<void> {
  say('ha-agent lab: client -- (lb1, lb2: ha-agent + keepalived, VRRP 100 ms) -- b1, b2, b3   (network namespaces, torn down at exit)');
  const pair = await Pair.create({ backends: 3, mode: 'dnat', advertMs: 100 }, false);
  try {
    for (const lb of LBS) {
      // The pair's farm, with the backends weighted 1:2:3.
      const config = pairConfig(pair.dirs[lb], lb, pair.opts).replace(labBackendsYaml(WEIGHTS.length), labBackendsYaml(WEIGHTS));
      pair.dirs[lb].write(config);
      await pair.start(lb);
    }
    await pair.waitState('lb1', 'MASTER');
    await pair.waitState('lb2', 'BACKUP');
    for (const lb of LBS) await waitFor(async () => (await markedBackends(pair.lab, lb, 'web')).length === 3, { timeoutMs: 5000, what: `${lb}'s rules` });
    say('\nagentctl status on lb1:');
    say((await runAgentctl(pair.dirs.lb1.socket, ['status'], { timeoutMs: 10_000 })).stdout.trimEnd().split('\n').map((l) => `  ${l}`).join('\n'));
    const rules = await pair.lab.exec('lb1', 'iptables', ['-t', 'mangle', '-S', 'HAM-web']);
    say('\nThe MARK chain ha-agent applied (iptables -t mangle -S HAM-web), identical on lb1 and lb2:');
    rules.stdout.trim().split('\n').forEach((l) => say(`  ${l}`));
    const total = WEIGHTS.reduce((a, b) => a + b, 0);
    await split(pair.lab, 'All backends up, via lb1 (MASTER)', WEIGHTS.map((w) => w / total));

    say('\nStopping b2\'s server; both agents take it out of their chains after 2 failed checks...');
    // b2's namespace runs nothing but its server: stop exactly those processes.
    const pids = (await execa('ip', ['netns', 'pids', pair.lab.nsName('b2')])).stdout.split('\n').filter(Boolean).map(Number);
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    const stoppedAt = Date.now();
    for (const lb of LBS) await waitFor(async () => !(await markedBackends(pair.lab, lb, 'web')).includes(1), { timeoutMs: 5000, intervalMs: 20, what: `b2 to leave ${lb}` });
    say(`b2 left both MARK chains ${Date.now() - stoppedAt} ms after its server stopped.`);
    const without = WEIGHTS[0]! + WEIGHTS[2]!;
    await split(pair.lab, 'b2 down', [WEIGHTS[0]! / without, 0, WEIGHTS[2]! / without]);

    say('\nStarting b2 again; it returns after its checks pass...');
    await pair.lab.serveName('b2');
    for (const lb of LBS) await waitFor(async () => (await markedBackends(pair.lab, lb, 'web')).includes(1), { timeoutMs: 5000, intervalMs: 20, what: `b2 to return to ${lb}` });

    say('\nKilling lb1\'s agent (SIGKILL): its keepalived goes with it and lb2 takes the VIP...');
    const killedAt = Date.now();
    pair.agent('lb1').kill('SIGKILL');
    await pair.waitState('lb2', 'MASTER', 5000);
    say(`lb2 became MASTER ${Date.now() - killedAt} ms later; VIP now on: ${(await pair.vipHolders()).join(', ')}`);
    await split(pair.lab, 'b2 back, via lb2 (new MASTER, no rule change needed)', WEIGHTS.map((w) => w / total));
    say('\nlb2 agent log (transitions):');
    for (const line of pair.agent('lb2').lines) {
      const e = JSON.parse(line) as { msg: string; reason?: string; helper?: string; vrrp?: unknown };
      // keepalived's own output is forwarded with a `helper` field; show the agent's decisions.
      if (!e.helper && (e.reason || e.vrrp)) say(`  ${e.msg}`);
    }
  } finally {
    await pair.destroy();
    say('\nlab torn down.');
  }
}

// --active-active: three LBs behind a router's ECMP instead of the keepalived pair.
if (process.argv.includes('--active-active')) await activeActiveLab();
else await main();
