// health_policy quorum with three agents: one node whose own probes fail (its network trouble,
// not the backend's) does not take the backend out; two nodes seeing it down do, everywhere.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { backendIp, labBackendsYaml, VIP, sleep } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { markedBackends, waitForChain } from '../support/agent.js';
import { createClusterLab, redisUrl, waitConnected, type ClusterLab } from './lab.js';

const farms = `  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: tcp, interval: 200ms, timeout: 100ms, rise: 2, fall: 2 }
    backends:
${labBackendsYaml(2)}
`;

describe('quorum health policy', needsRoot(), () => {
  let c: ClusterLab;
  /** Makes one LB's probes to b1 fail without touching b1 itself. */
  const blind = (lb: string) => c.lab.exec(lb, 'iptables', ['-I', 'OUTPUT', '-d', backendIp(1), '-p', 'tcp', '--dport', '8080', '-j', 'REJECT', '--reject-with', 'tcp-reset']);

  before(async () => {
    c = await createClusterLab({ lbs: 3, backends: 2, farmsYaml: farms, cluster: `{ redis: "${redisUrl()}", health_policy: quorum, heartbeat: 250ms, heartbeat_ttl: 1500ms }` });
    for (const i of [1, 2]) await c.lab.serveName(`b${i}`);
    for (const i of [0, 1, 2]) await c.startAgent(i);
    await waitConnected(c, 2);
    for (const lb of ['lb1', 'lb2', 'lb3']) await waitForChain(c.lab, lb, 'web', [0, 1], 5000);
  });
  after(() => c?.destroy());

  it('one node seeing a backend down does not remove it; two do, on every node', async () => {
    await blind('lb3');
    await sleep(1500);
    for (const lb of ['lb1', 'lb2', 'lb3']) assert.deepEqual(await markedBackends(c.lab, lb, 'web'), [0, 1], `${lb} removed b1 on one vote`);
    const status = JSON.parse((await c.ctl(2, ['status', '--json'])).stdout);
    const b1 = status.farms[0].backends.find((b: { name: string }) => b.name === 'b1');
    assert.deepEqual(b1.views, { lb3: 'down', lb1: 'up', lb2: 'up' });
    assert.equal(b1.health, 'up');

    await blind('lb2');
    for (const lb of ['lb1', 'lb2', 'lb3']) await waitForChain(c.lab, lb, 'web', [1], 3000);
  });
});
