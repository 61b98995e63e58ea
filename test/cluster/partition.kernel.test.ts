// Two agents and a real redis-server in namespaces, with the path between one agent and Redis cut
// silently (packets dropped both ways, no reset), the way a switch or a firewall fails: the agent
// must notice within a bounded time, answer operator actions promptly, and, once the path heals,
// reconnect and follow what the other node did within the cluster's 2 s bound.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, waitFor } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { waitForChain } from '../support/agent.js';
import { COMMAND_TIMEOUT_MS } from '../../agent/cluster/store.js';
import { clusterFarmsYaml, createConnectedPair, REDIS_IP, waitConnected, type ClusterLab } from './lab.js';

const HEARTBEAT_MS = 250;
/** Probe interval + command timeout, and a second for agentctl's own start-up and the poll. */
const DETECTION_BOUND_MS = HEARTBEAT_MS + COMMAND_TIMEOUT_MS + 1000;
/** A reconnect attempt is at most connectTimeout (2 s) + the longest retry delay (1 s) apart. */
const RECONNECT_BOUND_MS = 3000 + 1000;

describe('cluster: a silent Redis partition', needsRoot(), () => {
  let c: ClusterLab;

  before(async () => {
    c = await createConnectedPair(clusterFarmsYaml(), HEARTBEAT_MS);
  });
  after(() => c?.destroy());

  /** Drops every packet between `lb` and Redis, both ways, without a reset. */
  const cut = async (lb: string, on: boolean) => {
    for (const [chain, dir] of [['INPUT', '-s'], ['OUTPUT', '-d']] as const) {
      await c.lab.exec(lb, 'iptables', ['-w', on ? '-I' : '-D', chain, dir, REDIS_IP, '-j', 'DROP']);
    }
  };
  const state = async (i: number): Promise<string> => JSON.parse((await c.ctl(i, ['status', '--json'])).stdout).cluster.state;
  const waitState = (i: number, want: string, timeoutMs: number) => waitFor(async () => ((await state(i)) === want ? Date.now() : undefined),
    { timeoutMs, intervalMs: 50, what: `lb${i + 1} to say ${want}` });

  it('a silent Redis partition is noticed within the bound, an action is answered promptly, and reaches the other node within 2 s of the heal', async () => {
    await cut('lb2', true);
    const cutAt = Date.now();
    try {
      // Taken before the agent can know: refused within the command timeout, not hung for the partition.
      const early = await c.ctl(1, ['backend', 'web', 'b1', 'maintenance']);
      const answered = Date.now() - cutAt;
      assert.equal(early.exitCode, 1, early.stdout);
      assert.match(early.stderr, /cluster disconnected.*--local/);
      assert.ok(answered <= COMMAND_TIMEOUT_MS + 1000, `the cluster-wide action was answered after ${answered} ms`);

      const noticed = (await waitState(1, 'disconnected', DETECTION_BOUND_MS + 1000)) - cutAt;
      assert.ok(noticed <= DETECTION_BOUND_MS, `lb2 said disconnected ${noticed} ms after the cut`);

      // Once known: refused at once, and --local is applied at once (and kept for the reconnect).
      const t = Date.now();
      const refused = await c.ctl(1, ['backend', 'web', 'b1', 'maintenance']);
      assert.equal(refused.exitCode, 1);
      assert.match(refused.stderr, /cluster disconnected.*--local/);
      const local = await c.ctl(1, ['backend', 'web', 'b1', 'maintenance', '--local']);
      assert.equal(local.exitCode, 0, local.stderr);
      const localTook = Date.now() - t;
      assert.ok(localTook <= 2000, `two actions answered in ${localTook} ms`);
      await waitForChain(c.lab, 'lb2', 'web', [1], 2000);
      // lb1 is not cut off and has heard nothing.
      assert.equal(await state(0), 'connected');
      await sleep(500);
      await waitForChain(c.lab, 'lb1', 'web', [0, 1], 100);
      console.log(`# partition: cluster-wide action answered after ${answered} ms, disconnected shown after ${noticed} ms`);
    } finally {
      await cut('lb2', false);
    }
    const healedAt = Date.now();
    const reconnected = await waitState(1, 'connected', RECONNECT_BOUND_MS + 2000);
    const followed = await waitForChain(c.lab, 'lb1', 'web', [1], RECONNECT_BOUND_MS + 3000);
    console.log(`# heal: lb2 connected after ${reconnected - healedAt} ms, lb1 followed the --local maintenance ${followed - healedAt} ms after the heal (${followed - reconnected} ms after lb2 reconnected)`);
    assert.ok(reconnected - healedAt <= RECONNECT_BOUND_MS, `lb2 reconnected ${reconnected - healedAt} ms after the heal`);
    assert.ok(followed - reconnected <= 2000, `lb1 followed ${followed - reconnected} ms after lb2 reconnected`);

    assert.equal((await c.ctl(1, ['backend', 'web', 'b1', 'enable'])).exitCode, 0);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [0, 1], 3000);
  });

  it('an action taken on lb2 while lb1 is cut off from Redis, and Redis restarted empty meanwhile, reaches lb1 within 2 s of its reconnect', async () => {
    await waitConnected(c, 1);
    await cut('lb1', true);
    const cutAt = Date.now();
    let partitioned = false;
    try {
      // lb2 still reaches Redis: its action is accepted and stored.
      const drain = await c.ctl(1, ['backend', 'web', 'b2', 'drain']);
      assert.equal(drain.exitCode, 0, drain.stderr);
      await waitForChain(c.lab, 'lb2', 'web', [0], 2000);
      const noticed = (await waitState(0, 'disconnected', DETECTION_BOUND_MS + 1000)) - cutAt;
      partitioned = true;
      assert.ok(noticed <= DETECTION_BOUND_MS, `lb1 said disconnected ${noticed} ms after the cut`);
      // Redis forgets everything behind lb1's back: lb1's old sockets are dead to the new server.
      await c.stopRedis();
      await c.startRedis();
      await waitState(1, 'connected', 5000);
      // lb1 keeps its last state while cut off.
      await waitForChain(c.lab, 'lb1', 'web', [0, 1], 100);
    } finally {
      await cut('lb1', false);
    }
    assert.ok(partitioned);
    const healedAt = Date.now();
    const reconnected = await waitState(0, 'connected', RECONNECT_BOUND_MS + 2000);
    const followed = await waitForChain(c.lab, 'lb1', 'web', [0], RECONNECT_BOUND_MS + 3000);
    console.log(`# heal after an empty restart: lb1 connected after ${reconnected - healedAt} ms, followed the drain ${followed - healedAt} ms after the heal (${followed - reconnected} ms after it reconnected)`);
    assert.ok(reconnected - healedAt <= RECONNECT_BOUND_MS, `lb1 reconnected ${reconnected - healedAt} ms after the heal`);
    assert.ok(followed - reconnected <= 2000, `lb1 followed ${followed - reconnected} ms after it reconnected`);

    // Both subscribed again: a later action on lb1 reaches lb2 promptly too.
    await waitConnected(c, 1);
    const started = Date.now();
    assert.equal((await c.ctl(0, ['backend', 'web', 'b2', 'enable'])).exitCode, 0);
    const back = await waitForChain(c.lab, 'lb2', 'web', [0, 1], 3000);
    assert.ok(back - started <= 2000, `lb2 followed the enable after ${back - started} ms`);
  });
});
