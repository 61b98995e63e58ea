// RedisPeerStore against a real redis-server on a free loopback port: "connected" means commands
// work and notes arrive; a subscriber connection lost alone is a disconnect, and the store is
// connected again (so the agent resyncs) only once it is subscribed again.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { execa, type ResultPromise } from 'execa';
import { Redis } from 'ioredis';
import { clusterSchema } from '../../config/schema.js';
import { RedisPeerStore } from '../../agent/cluster/store.js';
import { needsProgram } from '../support/root.js';
import { until } from './fake-store.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('RedisPeerStore with a real redis-server', needsProgram('redis-server'), () => {
  let redis: ResultPromise | undefined;
  let admin: Redis;
  let url: string;

  before(async () => {
    const port = await freePort();
    url = `redis://127.0.0.1:${port}/0`;
    redis = execa('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { reject: false });
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('redis-server did not start in 10 s')), 10_000);
      redis!.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await ready;
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
});
