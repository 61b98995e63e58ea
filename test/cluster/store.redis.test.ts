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
      for (const node of ['lb1', 'lb2', 'lb3']) await writer.setHeartbeat(node, `hb ${node}`, 60_000);
      assert.deepEqual((await reader.heartbeats()).sort(), ['hb lb1', 'hb lb2', 'hb lb3']);

      await writer.setHeartbeat('lb4', 'hb lb4', 20);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual((await reader.heartbeats()).sort(), ['hb lb1', 'hb lb2', 'hb lb3']);
      assert.deepEqual((await admin.smembers(reader.keys.nodes)).sort(), ['lb1', 'lb2', 'lb3']);
    } finally {
      await writer.close();
      await reader.close();
    }
  });
});
