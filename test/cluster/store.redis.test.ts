// RedisPeerStore against a real redis-server on a free loopback port: "connected" means commands
// work and notes arrive; a subscriber connection lost alone is a disconnect, and the store is
// connected again (so the agent resyncs) only once it is subscribed again.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { Redis } from 'ioredis';
import { clusterSchema } from '../../config/schema.js';
import { RedisPeerStore } from '../../agent/cluster/store.js';
import { freePort } from '../support/net.js';
import { needsProgram } from '../support/root.js';
import { waitFor } from '../netns/poll.js';
import { until } from './fake-store.js';

describe('RedisPeerStore with a real redis-server', needsProgram('redis-server'), () => {
  let redis: ResultPromise | undefined;
  let admin: Redis;
  let url: string;

  before(async () => {
    const port = await freePort();
    url = `redis://127.0.0.1:${port}/0`;
    redis = execa('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { reject: false });
    // Line by line: the banner may arrive split across chunks.
    const lines: string[] = [];
    createInterface({ input: redis.stdout! }).on('line', (line) => lines.push(line));
    await waitFor(() => lines.some((l) => l.includes('Ready to accept connections')), { timeoutMs: 10_000, what: 'redis-server to start' });
    admin = new Redis(url);
  });
  after(async () => {
    admin?.disconnect();
    redis?.kill('SIGKILL');
    await redis;
  });

  it('loses "connected" with its subscriber alone, and regains it subscribed: a note sent at once arrives', async () => {
    const store = new RedisPeerStore(clusterSchema.parse({ redis: url, name: 'sub' }));
    const events: string[] = [];
    const notes: string[] = [];
    store.onNote((raw) => notes.push(raw));
    store.onDisconnected(() => events.push('down'));
    // What ClusterSync does on connect: rely on notes from now on. Publish one at that instant.
    store.onConnected(() => {
      events.push('up');
      void admin.publish(store.keys.channel, `hello ${events.length}`);
    });
    try {
      await store.connect();
      await until(() => notes.includes('hello 1'), 3000);
      assert.deepEqual(events, ['up']);

      // Only the pub/sub connection goes; the command connection stays up.
      assert.equal(await admin.client('KILL', 'TYPE', 'pubsub'), 1);
      await until(() => events.length === 3, 5000);
      assert.deepEqual(events, ['up', 'down', 'up']);
      assert.equal(store.connected, true);
      await until(() => notes.includes('hello 3'), 3000);
    } finally {
      await store.close();
    }
  });

  it('finds every live heartbeat in a db full of other data, and drops the expired ones', async () => {
    // Other clusters and other data share the db: a walk of the keyspace (SCAN, bounded) saw
    // about 10 000 keys of these 50 000 and missed heartbeats beyond them.
    const fill = admin.pipeline();
    for (let i = 0; i < 50_000; i += 5000) fill.mset(Object.fromEntries(Array.from({ length: 5000 }, (_, j) => [`other:${i + j}`, 'x'])));
    await fill.exec();
    const cluster = clusterSchema.parse({ redis: url, name: 'crowded' });
    const writer = new RedisPeerStore(cluster);
    const reader = new RedisPeerStore(cluster);
    try {
      await writer.connect();
      await reader.connect();
      for (const node of ['lb1', 'lb2', 'lb3']) await writer.setHeartbeat(node, `hb ${node}`, 60_000, 'e1');
      assert.deepEqual((await reader.heartbeats()).sort(), ['hb lb1', 'hb lb2', 'hb lb3']);

      await writer.setHeartbeat('lb4', 'hb lb4', 20, 'e1');
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual((await reader.heartbeats()).sort(), ['hb lb1', 'hb lb2', 'hb lb3']);
      assert.deepEqual((await admin.smembers(reader.keys.nodes)).sort(), ['lb1', 'lb2', 'lb3']);
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  it('two config pushes at once: the stored revision is the higher one, and it only ever grows', async () => {
    const cluster = clusterSchema.parse({ redis: url, name: 'pushes' });
    const a = new RedisPeerStore(cluster);
    const b = new RedisPeerStore(cluster);
    try {
      await a.connect();
      await b.connect();
      for (let round = 0; round < 20; round++) {
        const now = Date.now();
        // Both with the same clock and floor: only Redis can tell them apart.
        const revs = await Promise.all([
          a.newConfig({ node: 'lb1', at: now, farms: [{ round, by: 'lb1' }] }, 0, now),
          b.newConfig({ node: 'lb2', at: now, farms: [{ round, by: 'lb2' }] }, 0, now),
        ]);
        assert.notEqual(revs[0], revs[1]);
        const stored = JSON.parse((await admin.get(a.keys.config))!) as { rev: number; farms: { by: string }[] };
        assert.equal(stored.rev, Math.max(...revs));
        assert.equal(stored.farms[0]!.by, revs[0]! > revs[1]! ? 'lb1' : 'lb2');
      }
      // A republished older config does not overwrite; the JSON is stored as written ([] stays []).
      const current = JSON.parse((await admin.get(a.keys.config))!) as { rev: number };
      assert.equal(await a.putConfigIfNewer({ rev: current.rev - 1, node: 'lb9', at: 1, farms: [] }, Date.now()), 'newer-there');
      assert.equal(await a.putConfigIfNewer({ rev: current.rev + 1, node: 'lb9', at: 1, farms: [] }, Date.now()), 'stored');
      assert.equal(await a.putConfigIfNewer({ rev: current.rev + 1, node: 'lb9', at: 1, farms: [] }, Date.now()), 'already-there');
      assert.deepEqual(JSON.parse((await admin.get(a.keys.config))!), { rev: current.rev + 1, node: 'lb9', at: 1, farms: [] });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('revisions never go backwards when Redis loses its data, and a replayed action lands only over an older one', async () => {
    const cluster = clusterSchema.parse({ redis: url, name: 'loss' });
    const store = new RedisPeerStore(cluster);
    try {
      await store.connect();
      const first = await store.newAction('web/b1', { admin: 'drain', node: 'lb2', at: 1 }, 0, 1000);
      assert.equal(first, 1000, 'at least the clock');
      assert.equal(await store.newAction('web/b1', { admin: 'enabled', node: 'lb2', at: 1 }, 0, 5), first + 1, 'above the counter when the clock is behind');
      await admin.del(store.keys.revision, store.keys.actions);
      // Emptied: the counter restarts at 0, yet the writer's floor keeps the revision above what it saw.
      const after = await store.newAction('web/b1', { admin: 'enabled', node: 'lb2', at: 2 }, first + 1, 10);
      assert.equal(after, first + 2);
      assert.ok(after > first + 1, `revision ${after} after the loss`);
      const stored = () => admin.hget(store.keys.actions, 'web/b1').then((v) => JSON.parse(v!) as { rev: number; admin: string; node: string });
      assert.deepEqual(await stored(), { rev: after, admin: 'enabled', node: 'lb2', at: 2 });
      // lb1 republishes the older drain it remembers: refused.
      assert.equal(await store.putActionIfNewer('web/b1', { admin: 'drain', rev: first, node: 'lb1', at: 1 }, 10), 'newer-there');
      assert.equal((await stored()).admin, 'enabled');
      // Same revision: the higher node id wins, byte by byte ('lb-2' < 'lb1' in bytes, while a
      // collation that skips hyphens, as en_US does, would put it after).
      assert.equal(await store.putActionIfNewer('web/b1', { admin: 'maintenance', rev: after, node: 'lb-2', at: 3 }, 10), 'newer-there');
      assert.equal(await store.putActionIfNewer('web/b1', { admin: 'maintenance', rev: after, node: 'lb3', at: 3 }, 10), 'stored');
      assert.equal((await stored()).node, 'lb3');
      assert.equal(await store.putActionIfNewer('web/b1', { admin: 'maintenance', rev: after, node: 'lb3', at: 3 }, 10), 'already-there');
      // The counter was raised to the replayed revision: the next new one is above it.
      const next = await store.newAction('web/b2', { admin: 'drain', node: 'lb1', at: 4 }, 0, 0);
      assert.ok(next > after);
      // Garbage in the stored value or the counter is overwritten, not a crash.
      await admin.hset(store.keys.actions, 'web/b3', 'not json');
      await admin.set(store.keys.revision, 'NaN-ish');
      assert.equal(await store.putActionIfNewer('web/b3', { admin: 'drain', rev: 5, node: 'lb1', at: 5 }, 10), 'stored');
      assert.ok((await store.newAction('web/b3', { admin: 'enabled', node: 'lb1', at: 6 }, 0, 0)) >= 6);
    } finally {
      await store.close();
    }
  });

  it('the epoch is written once into an empty store; a flush shows as a new epoch', async () => {
    const cluster = clusterSchema.parse({ redis: url, name: 'epoch' });
    const store = new RedisPeerStore(cluster);
    try {
      await store.connect();
      assert.equal(await store.setHeartbeat('lb1', 'hb', 60_000, 'first'), 'first');
      assert.equal(await store.setHeartbeat('lb2', 'hb', 60_000, 'second'), 'first');
      await admin.flushall();
      assert.equal(await store.setHeartbeat('lb2', 'hb', 60_000, 'second'), 'second');
    } finally {
      await store.close();
    }
  });

  it('what the agent would refuse as garbage never blocks a write, and revisions stay in range', async () => {
    const cluster = clusterSchema.parse({ redis: url, name: 'garbage' });
    const store = new RedisPeerStore(cluster);
    const now = Date.now();
    try {
      await store.connect();
      // Stored values whose revision or node the schemas refuse (cjson reads 1e300 and nan as numbers).
      for (const raw of ['{"rev":1e300,"node":"zz","admin":"drain","at":1}', '{"rev":"nan","node":"zz"}', '{"rev":5.5,"node":"lb1"}',
        `{"rev":${now + 2 * 86_400_000},"node":"lb9","admin":"drain","at":1}`, '{"rev":5,"node":"LB-UPPER"}', '[1,2]']) {
        await admin.hset(store.keys.actions, 'web/g', raw);
        assert.equal(await store.putActionIfNewer('web/g', { admin: 'enabled', rev: 10, node: 'lb1', at: 1 }, now), 'stored', raw);
      }
      // A counter far ahead of the clock (hostile, or a clock years off) is ignored, not followed out of range.
      await admin.set(store.keys.revision, String(4e15));
      const rev = await store.newAction('web/h', { admin: 'drain', node: 'lb1', at: now }, 0, now);
      assert.ok(rev >= now && rev < now + 1000, `revision ${rev}`);
      // A writer's floor at the limit: refused with a clear error, nothing written.
      await assert.rejects(store.newAction('web/i', { admin: 'drain', node: 'lb1', at: now }, 4e15, now), /would exceed/);
      assert.equal(await admin.hget(store.keys.actions, 'web/i'), null);
    } finally {
      await store.close();
    }
  });

  it('a new action lands above the one stored where it writes, even with the counter lost and the clock behind', async () => {
    const cluster = clusterSchema.parse({ redis: url, name: 'evicted' });
    const store = new RedisPeerStore(cluster);
    try {
      await store.connect();
      const high = await store.newAction('web/b1', { admin: 'drain', node: 'lb2', at: 1 }, 0, 50_000);
      await admin.del(store.keys.revision);
      const next = await store.newAction('web/b1', { admin: 'enabled', node: 'lb1', at: 2 }, 0, 10);
      assert.ok(next > high, `${next} after ${high}`);
      const cfg = await store.newConfig({ node: 'lb1', at: 1, farms: [] }, 0, 70_000);
      await admin.del(store.keys.revision);
      assert.ok((await store.newConfig({ node: 'lb2', at: 2, farms: [] }, 0, 10)) > cfg);
    } finally {
      await store.close();
    }
  });
});

describe('RedisPeerStore started while Redis is down', needsProgram('redis-server'), () => {
  it('a node started while Redis was down joins the cluster once Redis is up (both connections dialled)', async () => {
    const port = await freePort();
    const store = new RedisPeerStore(clusterSchema.parse({ redis: `redis://127.0.0.1:${port}/0`, name: 'late', heartbeat: '250ms' }));
    const notes: string[] = [];
    store.onNote((raw) => notes.push(raw));
    let redis: ResultPromise | undefined;
    try {
      // What ClusterSync does: a failed first connect means standalone, retrying.
      await assert.rejects(store.connect());
      assert.equal(store.connected, false);
      redis = execa('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { reject: false });
      const started = Date.now();
      // Each connection retries at most a second apart: connected and subscribed soon after.
      await until(() => store.connected, 5000);
      console.log(`# connected ${Date.now() - started} ms after redis-server was started`);
      const publisher = new Redis(`redis://127.0.0.1:${port}/0`);
      try {
        await publisher.publish(store.keys.channel, 'hello');
      } finally {
        publisher.disconnect();
      }
      await until(() => notes.includes('hello'), 3000);
    } finally {
      await store.close();
      redis?.kill('SIGKILL');
      await redis;
    }
  });
});
