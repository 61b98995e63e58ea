// Regression: a SIGHUP that reached the agent while it was starting killed it (Node's default
// action), because the reload handler was installed only once every service had started, and the
// cluster's first Redis connection can take seconds. Found by the chaos soak: a reload sent right
// after a restart. The SIGHUP must be kept and the reload run once the agent is up.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createLab, singleLbTopology, labBackendsYaml, VIP, sleep, waitFor, type Lab } from '../netns/topology.js';
import type { NsProcess } from '../netns/process.js';
import { needsRoot } from '../support/root.js';
import { agentDir, spawnAgent, stopAgentEnv, waitForChain, type AgentDir } from '../support/agent.js';

/** On the front network with no host behind it: the first connection to Redis hangs until it times out. */
const NO_REDIS = 'redis://10.1.0.77:6390';

describe('daemon: SIGHUP while starting', needsRoot(), () => {
  let lab: Lab;
  let dir: AgentDir;
  let agent: NsProcess | undefined;
  const farm = (backends: number) => `  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: tcp, interval: 300ms, timeout: 150ms, rise: 1, fall: 2 }
    backends:
${labBackendsYaml(backends)}
`;

  before(async () => {
    lab = await createLab(singleLbTopology({ backends: 2, mode: 'dnat' }));
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    for (const b of ['b1', 'b2']) await lab.serveName(b);
    dir = agentDir();
  });
  after(() => stopAgentEnv({ ...(agent ? { agent } : {}), lab, dir }));

  it('a SIGHUP before the agent is up does not kill it; the new config is applied once it is', async () => {
    dir.write(`${dir.header()}cluster: { redis: "${NO_REDIS}" }\nfarms:\n${farm(1)}`);
    agent = spawnAgent(lab, 'lb1', dir.configPath);
    // Rules applied, cluster connection still being dialled: the window the SIGHUP used to kill in.
    await agent.waitForLine('ha-agent running', 15_000);
    dir.write(`${dir.header()}cluster: { redis: "${NO_REDIS}" }\nfarms:\n${farm(2)}`);
    agent.kill('SIGHUP');
    await sleep(500);
    assert.equal(agent.exited, false, `the agent exited on SIGHUP:\n${agent.lines.slice(-5).join('\n')}`);
    await waitFor(() => agent!.lines.some((l) => l.includes('config reloaded')), { timeoutMs: 15_000, what: 'the reload after startup' });
    await waitForChain(lab, 'lb1', 'web', [0, 1], 5000);
    assert.equal(agent.exited, false);
  });
});
