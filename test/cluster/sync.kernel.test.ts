// Two agents and a real redis-server in namespaces: operator actions are cluster-wide, survive a
// Redis outage (with --local), config pushes are validated on every node, hostile Redis content
// is ignored, and credentials are checked.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { backendIp, sleep, waitFor, type NsProcess } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { agentLogs, markedBackends, startAgent, waitForChain } from '../support/agent.js';
import { clusterFarmsYaml, createClusterLab, redisUrl, waitConnected, type ClusterLab } from './lab.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const farms = clusterFarmsYaml;

describe('cluster sync through Redis', needsRoot(), () => {
  let c: ClusterLab;
  const servers = new Map<number, NsProcess>();
  const serve = async (i: number) => {
    servers.set(i, await c.lab.serveName(`b${i}`));
  };

  before(async () => {
    c = await createClusterLab({ lbs: 2, backends: 2, farmsYaml: farms(), cluster: `{ redis: "${redisUrl()}", heartbeat: 250ms, heartbeat_ttl: 1500ms }` });
    await serve(1);
    await serve(2);
    await c.startAgent(0);
    await c.startAgent(1);
    await waitConnected(c, 1);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [0, 1], 5000);
  });
  after(() => c?.destroy());

  it('drain on node B takes the backend out of node A within 200 ms; enable on A brings it back on B', async () => {
    const started = Date.now();
    const r = await c.ctl(1, ['backend', 'web', 'b1', 'drain']);
    assert.equal(r.exitCode, 0, r.stderr);
    const onA = await waitForChain(c.lab, 'lb1', 'web', [1], 3000);
    // agentctl's own start-up is in this figure; the benchmark measures the agent alone.
    assert.ok(onA - started < 200 + 400, `A followed after ${onA - started} ms`);
    const drainOnA = agentLogs(c.agents[0]!, (e) => e.farm === 'web' && e.backend === 'b1' && e.to === 'drain');
    assert.equal(drainOnA.length, 1);
    const requestAt = agentLogs(c.agents[1]!, (e) => e.farm === 'web' && e.backend === 'b1' && e.to === 'drain')[0]!.time as number;
    assert.ok((drainOnA[0]!.time as number) - requestAt < 200, `A applied the drain ${(drainOnA[0]!.time as number) - requestAt} ms after B took it`);
    assert.equal((await c.ctl(0, ['backend', 'web', 'b1', 'enable'])).exitCode, 0);
    await waitForChain(c.lab, 'lb2', 'web', [0, 1], 3000);
  });

  it('Redis down: cluster-wide actions fail clearly, --local works; Redis back: both converge within 2 s, nothing lost', async () => {
    await c.stopRedis();
    await waitFor(async () => JSON.parse((await c.ctl(0, ['status', '--json'])).stdout).cluster.state === 'disconnected', { timeoutMs: 5000, what: 'lb1 to notice Redis is gone' });
    const refused = await c.ctl(0, ['backend', 'web', 'b2', 'drain']);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /cluster disconnected.*--local/);
    // While Redis is away a backend fails and the operator acts on lb1 only.
    await servers.get(1)!.stop(1000);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [1], 3000);
    const local = await c.ctl(0, ['backend', 'web', 'b2', 'maintenance', '--local']);
    assert.equal(local.exitCode, 0, local.stderr);
    await waitForChain(c.lab, 'lb1', 'web', [], 3000);
    assert.deepEqual(await markedBackends(c.lab, 'lb2', 'web'), [1], 'lb2 does not know yet');
    await sleep(10_000 - 3000);
    await c.startRedis();
    const back = Date.now();
    await waitForChain(c.lab, 'lb2', 'web', [], 2000 + 1000);
    assert.ok(Date.now() - back <= 2000 + 500, `lb2 converged ${Date.now() - back} ms after Redis returned`);
    const status = JSON.parse((await c.ctl(1, ['status', '--json'])).stdout);
    const b2 = status.farms[0].backends.find((b: { name: string }) => b.name === 'b2');
    assert.equal(b2.admin, 'maintenance');
    assert.deepEqual(b2.views, { lb2: 'up', lb1: 'up' });
    await c.ctl(1, ['backend', 'web', 'b2', 'enable']);
    await serve(1);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [0, 1], 5000);
  });

  it('config push: a valid revision is applied on every node; an invalid one is refused with its error; an older one is ignored', async () => {
    const file = join(c.dirs[0]!.dir, 'push.yaml');
    writeFileSync(file, `node: { id: lb1 }\nfarms:\n${farms(['web', 'extra'])}`);
    const pushed = await c.ctl(0, ['config', 'push', file]);
    assert.equal(pushed.exitCode, 0, pushed.stderr);
    const revision = Number(/revision (\d+)/.exec(pushed.stdout)![1]);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'extra', [0, 1], 3000);
    const diff = await c.ctl(1, ['config', 'diff']);
    assert.match(diff.stdout, /\+ extra \(only in the cluster\)/);

    writeFileSync(file, `node: { id: lb1 }\nfarms:\n${farms(['web']).replace(backendIp(2), '10.2.0.300')}`);
    const bad = await c.ctl(0, ['config', 'push', file]);
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /farms\[0\]\.backends\[1\]\.ip: "10\.2\.0\.300" is not an IPv4 address/);

    // A revision older than the running one, written behind the agents' backs, changes nothing.
    await c.redisCli('SET', '{ha-agent:default}:config', JSON.stringify({ rev: 1, node: 'lb2', at: Date.now(), farms: [] }));
    await c.redisCli('PUBLISH', '{ha-agent:default}:events', JSON.stringify({ type: 'config', node: 'lb2', rev: 1 }));
    await sleep(500);
    for (const lb of ['lb1', 'lb2']) assert.deepEqual(await markedBackends(c.lab, lb, 'extra'), [0, 1]);
    const status = JSON.parse((await c.ctl(1, ['status', '--json'])).stdout);
    assert.equal(status.cluster.config_revision, revision);
  });

  it('a revision one node refuses keeps that node on its config and shows the error in its heartbeat', async () => {
    // lb2 reserves fewer marks than the pushed farms need: valid on lb1, refused on lb2.
    c.dirs[1]!.write(c.dirs[1]!.header('lb2') + `dataplane: { mark_min: 0x200, mark_max: 0x205 }\ncluster: { redis: "${redisUrl()}", heartbeat: 250ms, heartbeat_ttl: 1500ms }\nfarms:\n${farms()}`);
    const file = join(c.dirs[0]!.dir, 'push3.yaml');
    writeFileSync(file, `node: { id: lb1 }\nfarms:\n${farms(['web', 'extra', 'third', 'fourth'])}`);
    const pushed = await c.ctl(0, ['config', 'push', file]);
    assert.equal(pushed.exitCode, 0, pushed.stderr);
    await waitForChain(c.lab, 'lb1', 'fourth', [0, 1], 3000);
    const peer = await waitFor(async () => {
      const s = JSON.parse((await c.ctl(0, ['status', '--json'])).stdout);
      return s.cluster.peers.find((p: { node: string; config_error: string | null }) => p.node === 'lb2' && p.config_error);
    }, { timeoutMs: 3000, what: "lb2's refusal in its heartbeat" });
    assert.match(peer.config_error, /mark/);
    assert.deepEqual(await markedBackends(c.lab, 'lb2', 'fourth'), []);
    assert.deepEqual(await markedBackends(c.lab, 'lb2', 'extra'), [0, 1], 'lb2 keeps running its last good config');
  });

  it('hostile Redis content is ignored and logged; the agents keep running', async () => {
    const tag = '{ha-agent:default}';
    const before = await markedBackends(c.lab, 'lb1', 'web');
    await c.redisCli('HSET', `${tag}:actions`, 'web/b1', '{"admin":"drain; rm -rf /","rev":999999,"node":"x","at":1}');
    await c.redisCliStdin('A'.repeat(300_000), 'HSET', `${tag}:actions`, 'web/b2');
    await c.redisCli('HSET', `${tag}:actions`, '$(reboot)/b1', '{"admin":"drain","rev":999999,"node":"lb9","at":1}');
    await c.redisCli('HSET', `${tag}:actions`, 'nofarm/b1', '{"admin":"drain","rev":999999,"node":"lb9","at":1}');
    await c.redisCli('SET', `${tag}:node:evil`, '{"node":"evil","vrrp":"MASTER","x":`id`}', 'PX', '5000');
    await c.redisCli('SADD', `${tag}:nodes`, 'evil');
    await c.redisCli('HSET', `${tag}:health:lb2`, 'web/b1', 'sideways');
    await c.redisCli('PUBLISH', `${tag}:events`, 'not json at all');
    await c.redisCli('PUBLISH', `${tag}:events`, JSON.stringify({ type: 'action', node: 'lb9', rev: 1 }));
    await sleep(1000);
    for (const agent of c.agents) assert.equal(agent!.exited, false);
    assert.deepEqual(await markedBackends(c.lab, 'lb1', 'web'), before);
    const warned = agentLogs(c.agents[0]!, (e) => String(e.msg).startsWith('ignored invalid'));
    assert.ok(warned.length >= 3, `only ${warned.length} rejections logged`);
    assert.equal((await c.ctl(0, ['status', '--json'])).exitCode, 0);
    await c.redisCli('DEL', `${tag}:actions`);
  });

  it('a wrong password is a clear error and the agent runs standalone', async () => {
    const dir = c.dirs[1]!;
    await c.agents[1]!.stop(3000);
    dir.write(`${dir.header('lb2')}cluster: { redis: "${redisUrl('wrong-password')}" }\nfarms:\n${farms()}`);
    const agent = await startAgent(c.lab, 'lb2', dir.configPath);
    c.agents[1] = agent;
    await waitFor(() => agent.lines.some((l) => l.includes('Redis refused the credentials')), { timeoutMs: 5000, what: 'the credentials error' });
    await waitForChain(c.lab, 'lb2', 'web', [0, 1], 5000);
    const status = JSON.parse((await c.ctl(1, ['status', '--json'])).stdout);
    assert.equal(status.cluster.state, 'disconnected');
  });
});
