// Benchmark: an operator action on node A to the rule applied in node B's kernel, over many
// actions, with two agents and a real redis-server in a namespace lab.

import { backendIp, VIP, waitFor } from '../test/netns/topology.js';
import { createClusterLab, redisUrl, waitConnected } from '../test/cluster/lab.js';
import { rawConnect } from '../test/control/raw.js';
import { waitForChain } from '../test/support/agent.js';
import { recordResult, summarize } from './results.js';

const ACTIONS = Number(process.env.BENCH_ACTIONS ?? 100);

interface Entry { time: number; msg?: string; farms?: string[]; to?: string; backend?: string }

async function main(): Promise<void> {
  process.env.HA_AGENT_LOG_LEVEL = 'debug';
  const farms = `  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: none }
    backends:
${[1, 2].map((i) => `      - { name: b${i}, ip: ${backendIp(i)}, port: 8080 }`).join('\n')}
`;
  const c = await createClusterLab({ lbs: 2, backends: 2, farmsYaml: farms, cluster: `{ redis: "${redisUrl()}", heartbeat: 500ms }` });
  try {
    await c.startAgent(0);
    const b = await c.startAgent(1);
    await waitConnected(c, 1);
    await waitForChain(c.lab, 'lb2', 'web', [0, 1], 5000);
    const conn = await rawConnect(c.dirs[0]!.socket);
    const samples: number[] = [];
    for (let i = 0; i < ACTIONS; i++) {
      const admin = i % 2 === 0 ? 'drain' : 'enabled';
      const seen = b.lines.length;
      const sentAt = Date.now();
      conn.socket.write(`${JSON.stringify({ v: 1, id: i, cmd: 'backend', farm: 'web', backend: 'b1', admin })}\n`);
      await conn.waitLines(i + 1, 5000);
      // B logs the admin change, then "rules applied" once its kernel holds the new rules.
      const appliedAt = await waitFor(() => {
        const entries = b.lines.slice(seen).map((l) => JSON.parse(l) as Entry);
        const change = entries.findIndex((e) => e.backend === 'b1' && e.to === admin);
        return change >= 0 ? entries.slice(change).find((e) => e.msg === 'rules applied')?.time : undefined;
      }, { timeoutMs: 1000, intervalMs: 4, what: `action ${i} applied on node B` });
      samples.push(appliedAt - sentAt);
    }
    conn.socket.destroy();
    const result = { actions: ACTIONS, unit: 'ms', note: 'request written to node A\'s socket -> node B logged its kernel apply (same clock)', a_to_b_kernel: summarize(samples) };
    recordResult('cluster', result);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await c.destroy();
  }
}

await main();
