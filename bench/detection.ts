// Benchmark: from a backend's server dying to its MARK rule leaving the kernel, minus the check
// schedule (fall × interval), over many trials; the daemon runs in the LB namespace of a lab.

import { createLab, singleLbTopology, backendIp, VIP, sleep, waitFor, type NsProcess } from '../test/netns/topology.js';
import { agentDir, startAgent, waitForChain } from '../test/support/agent.js';
import { recordResult, summarize } from './results.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 20);
const INTERVAL = 100;
const FALL = 2;
const RISE = 1;

interface Entry { time: number; msg?: string; farm?: string; backend?: string; to?: string }

async function main(): Promise<void> {
  const lab = await createLab(singleLbTopology({ backends: 2, mode: 'dnat' }));
  const dir = agentDir('ha-agent-bench-');
  let agent: NsProcess | undefined;
  try {
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    await lab.serveName('b1');
    dir.write(`${dir.header()}farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: tcp, interval: ${INTERVAL}ms, timeout: 50ms, rise: ${RISE}, fall: ${FALL} }
    backends:
      - { name: b1, ip: ${backendIp(1)}, port: 8080 }
      - { name: b2, ip: ${backendIp(2)}, port: 8080 }
`);
    let server = await lab.serveName('b2');
    process.env.HA_AGENT_LOG_LEVEL = 'debug';
    agent = await startAgent(lab, 'lb1', dir.configPath);
    await waitForChain(lab, 'lb1', 'web', [0, 1], 5000);
    const beyondSchedule: number[] = [];
    const transitionToKernel: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const seen = agent.lines.length;
      // Spread the kill across the probe interval, as a real failure would be.
      await sleep(Math.floor(Math.random() * INTERVAL));
      const killedAt = Date.now();
      server.kill('SIGKILL');
      await server.wait(2000);
      await waitForChain(lab, 'lb1', 'web', [0], 5000);
      // The kernel can show the change a moment before the agent's log line reaches us.
      const { down, applied } = await waitFor(() => {
        const entries = agent!.lines.slice(seen).map((l) => JSON.parse(l) as Entry);
        const down = entries.find((e) => e.backend === 'b2' && e.to === 'down');
        const applied = down && entries.find((e) => e.msg === 'rules applied' && e.time >= down.time);
        return down && applied && { down, applied };
      }, { timeoutMs: 1000, intervalMs: 20, what: `trial ${trial}: the down and rules-applied log lines` });
      beyondSchedule.push(applied.time - killedAt - FALL * INTERVAL);
      transitionToKernel.push(applied.time - down.time);
      server = await lab.serveName('b2');
      await waitForChain(lab, 'lb1', 'web', [0, 1], 5000);
    }
    const result = {
      trials: TRIALS, interval_ms: INTERVAL, fall: FALL,
      note: 'beyond_schedule = (rule left the kernel) - (server killed) - fall*interval; the first failing probe comes 0..interval after the kill, so it can be negative',
      beyond_schedule_ms: summarize(beyondSchedule),
      transition_to_kernel_ms: summarize(transitionToKernel),
    };
    recordResult('detection', result);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await agent?.stop(3000);
    await lab.destroy();
    dir.remove();
  }
}

await main();
