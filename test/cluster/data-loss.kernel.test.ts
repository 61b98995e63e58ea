// Two agents and a real redis-server without persistence, in namespaces: Redis restarted empty,
// or put back to an older state (a replica promoted before it caught up). Revisions never go
// backwards, the nodes republish what they hold, and the last action an operator took wins on
// every node.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { sleep, waitFor } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { markedBackends, waitForChain } from '../support/agent.js';
import { clusterFarmsYaml, createConnectedPair, REDIS_IP, waitConnected, type ClusterLab } from './lab.js';

const TAG = '{ha-agent:default}';
const farms = clusterFarmsYaml;

describe('cluster: Redis losing its data', needsRoot(), () => {
  let c: ClusterLab;

  before(async () => {
    c = await createConnectedPair(farms(), 250);
  });
  after(() => c?.destroy());

  const restartRedisEmpty = async () => {
    await c.stopRedis();
    await c.startRedis();
  };
  /** Retries a cluster-wide action until the node has reconnected and accepts it; when it was accepted. */
  const actUntilAccepted = async (i: number, args: string[]): Promise<number> => waitFor(async () => {
    const r = await c.ctl(i, args);
    if (r.exitCode === 0) return Date.now();
    assert.match(r.stderr, /cluster disconnected/);
    return undefined;
  }, { timeoutMs: 10_000, intervalMs: 50, what: `agentctl ${args.join(' ')} on lb${i + 1} to be accepted` });
  const admin = async (i: number, backend: string): Promise<{ admin: string; admin_views?: Record<string, string> }> => {
    const s = JSON.parse((await c.ctl(i, ['status', '--json'])).stdout);
    return s.farms[0].backends.find((b: { name: string }) => b.name === backend);
  };

  it('an enable on lb2 after Redis restarted empty reaches lb1 within 2 s, whenever it is accepted', async () => {
    const delays: (number | 'reconnected')[] = [0, 300, 800, 'reconnected'];
    const figures: string[] = [];
    for (const delay of delays) {
      await c.ctl(1, ['backend', 'web', 'b1', 'drain']);
      for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [1], 3000);
      await restartRedisEmpty();
      if (delay === 'reconnected') await waitConnected(c, 1);
      else await sleep(delay);
      const accepted = await actUntilAccepted(1, ['backend', 'web', 'b1', 'enable']);
      const followed = await waitForChain(c.lab, 'lb1', 'web', [0, 1], 2000 + 1000);
      figures.push(`${delay}: ${followed - accepted} ms`);
      assert.ok(followed - accepted <= 2000, `lb1 followed ${followed - accepted} ms after the enable (delay ${delay})`);
      assert.equal((await admin(0, 'b1')).admin, 'enabled');
    }
    console.log(`# lb1 followed the enable after: ${figures.join(', ')}`);
  });

  it('Redis restarted empty with no action in flight: both admin states survive (republished), a later action reaches the other node', async () => {
    await waitConnected(c, 1);
    assert.equal((await c.ctl(0, ['backend', 'web', 'b2', 'drain'])).exitCode, 0);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [0], 3000);
    await restartRedisEmpty();
    await waitConnected(c, 1);
    await waitFor(async () => JSON.parse((await c.redisCli('HGET', `${TAG}:actions`, 'web/b2')) || '{}').admin === 'drain',
      { timeoutMs: 3000, what: 'the drain of web/b2 republished into the empty Redis' });
    await waitFor(async () => (await c.redisCli('HGET', `${TAG}:admin:lb2`, 'web/b2')) === 'drain', { timeoutMs: 3000, what: "lb2's admin view republished" });
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [0], 1000);
    for (const i of [0, 1]) assert.equal((await admin(i, 'b2')).admin, 'drain');
    const started = Date.now();
    assert.equal((await c.ctl(1, ['backend', 'web', 'b2', 'enable'])).exitCode, 0);
    const followed = await waitForChain(c.lab, 'lb1', 'web', [0, 1], 3000);
    assert.ok(followed - started <= 2000, `lb1 followed after ${followed - started} ms`);
  });

  it('a config push after Redis lost its data is applied on every node', async () => {
    const file = join(c.dirs[0]!.dir, 'push-loss.yaml');
    writeFileSync(file, `node: { id: lb1 }\nfarms:\n${farms(['web', 'extra'])}`);
    assert.equal((await c.ctl(0, ['config', 'push', file])).exitCode, 0);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'extra', [0, 1], 3000);
    await restartRedisEmpty();
    await waitConnected(c, 1);
    // The running shared config is republished, so a node joining later still finds it.
    await waitFor(async () => (await c.redisCli('GET', `${TAG}:config`)).includes('"extra"'), { timeoutMs: 3000, what: 'the shared config republished' });
    writeFileSync(file, `node: { id: lb1 }\nfarms:\n${farms(['web', 'extra', 'third'])}`);
    const pushed = await c.ctl(1, ['config', 'push', file]);
    assert.equal(pushed.exitCode, 0, pushed.stderr);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'third', [0, 1], 3000);
  });

  it('Redis back with older state (a replica promoted before it caught up): no node applies the older action, and the newer one is put back', async () => {
    await waitConnected(c, 1);
    assert.equal((await c.ctl(1, ['backend', 'web', 'b1', 'drain'])).exitCode, 0);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [1], 3000);
    // What the replica holds: everything up to the drain.
    const epoch = await c.redisCli('GET', `${TAG}:epoch`);
    const drain = await c.redisCli('HGET', `${TAG}:actions`, 'web/b1');
    const counter = await c.redisCli('GET', `${TAG}:revision`);
    assert.equal((await c.ctl(0, ['backend', 'web', 'b1', 'enable'])).exitCode, 0);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [0, 1], 3000);
    const enable = await c.redisCli('HGET', `${TAG}:actions`, 'web/b1');

    // The promoted replica: the same epoch, the drain, the older counter; the agents kept out
    // (bound to loopback) until it holds them, then let in.
    await c.stopRedis();
    await c.startRedis('127.0.0.1');
    await c.redisCliAt('127.0.0.1', 'SET', `${TAG}:epoch`, epoch);
    await c.redisCliAt('127.0.0.1', 'HSET', `${TAG}:actions`, 'web/b1', drain);
    await c.redisCliAt('127.0.0.1', 'SET', `${TAG}:revision`, counter);
    await c.redisCliAt('127.0.0.1', 'CONFIG', 'SET', 'bind', `127.0.0.1 ${REDIS_IP}`);
    await waitConnected(c, 1);
    const stored = async () => JSON.parse((await c.redisCli('HGET', `${TAG}:actions`, 'web/b1')) || '{}') as Record<string, unknown>;
    await waitFor(async () => isDeepStrictEqual(await stored(), JSON.parse(enable)), { timeoutMs: 3000, what: 'the newer enable put back' });
    const watchUntil = Date.now() + 1500;
    while (Date.now() < watchUntil) {
      for (const lb of ['lb1', 'lb2']) assert.deepEqual(await markedBackends(c.lab, lb, 'web'), [0, 1], `${lb} applied the older drain`);
      await sleep(100);
    }
    // A later action outranks both.
    assert.equal((await c.ctl(1, ['backend', 'web', 'b1', 'maintenance'])).exitCode, 0);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [1], 3000);
    assert.ok((await stored()).rev as number > JSON.parse(enable).rev);
    assert.equal((await c.ctl(1, ['backend', 'web', 'b1', 'enable'])).exitCode, 0);
  });

  it('nodes that disagree on an admin state are shown in status, per node, once it outlasts a resync', async () => {
    await waitConnected(c, 1);
    // lb2 claims maintenance for web/b2 behind the agents' backs (what a lost action looks like).
    await c.redisCli('HSET', `${TAG}:admin:lb2`, 'web/b2', 'maintenance');
    await c.redisCli('PUBLISH', `${TAG}:events`, JSON.stringify({ type: 'health', node: 'lb2' }));
    const shown = await waitFor(async () => {
      const s = JSON.parse((await c.ctl(0, ['status', '--json'])).stdout);
      return s.cluster.admin_disagreements?.length ? s : undefined;
    }, { timeoutMs: 5000, what: 'the disagreement in status' });
    assert.deepEqual(shown.cluster.admin_disagreements.map((d: { backend: string; views: unknown }) => [d.backend, d.views]), [['web/b2', { lb1: 'enabled', lb2: 'maintenance' }]]);
    assert.deepEqual((await admin(0, 'b2')).admin_views, { lb1: 'enabled', lb2: 'maintenance' });
    const text = await c.ctl(0, ['status']);
    assert.match(text.stdout, /nodes disagree on web\/b2: lb1 enabled, lb2 maintenance/);
    await c.redisCli('HSET', `${TAG}:admin:lb2`, 'web/b2', 'enabled');
    await c.redisCli('PUBLISH', `${TAG}:events`, JSON.stringify({ type: 'health', node: 'lb2' }));
    await waitFor(async () => JSON.parse((await c.ctl(0, ['status', '--json'])).stdout).cluster.admin_disagreements.length === 0,
      { timeoutMs: 3000, what: 'the disagreement to end' });
  });

  it('a node restarted while Redis was down rejoins once Redis is back empty, and follows an action on the other node within 2 s', async () => {
    await waitConnected(c, 1);
    await c.stopRedis();
    c.agents[0]!.kill('SIGKILL');
    await c.agents[0]!.wait(5000);
    // Starts standalone: its first connect fails.
    const agent = await c.startAgent(0);
    await agent.waitForLine(/Redis unreachable.*running standalone/, 10_000);
    await c.startRedis();
    const back = Date.now();
    await waitConnected(c, 1);
    const rejoined = Date.now() - back;
    const started = Date.now();
    assert.equal((await c.ctl(1, ['backend', 'web', 'b2', 'maintenance'])).exitCode, 0);
    const followed = await waitForChain(c.lab, 'lb1', 'web', [0], 3000);
    console.log(`# restarted while Redis was down: rejoined ${rejoined} ms after Redis returned, followed the maintenance after ${followed - started} ms`);
    assert.ok(followed - started <= 2000, `lb1 followed after ${followed - started} ms`);
    assert.equal((await c.ctl(0, ['backend', 'web', 'b2', 'enable'])).exitCode, 0);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [0, 1], 3000);
  });
});
