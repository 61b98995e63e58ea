// ClusterSync against an in-memory store: note handling that fails is logged, bursts of peer
// notes are coalesced into at most two reads that never overlap, config notes arriving together
// apply a revision once, and a peer back from an outage is known with its view before its
// pending actions are followed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { clusterSchema } from '../../config/schema.js';
import { createLogger } from '../../agent/log.js';
import { ClusterSync, type ClusterHost } from '../../agent/cluster/sync.js';
import type { Health } from '../../agent/plan/plan.js';
import { FakeStore, until } from './fake-store.js';

/** A heartbeat timer far away: the tests drive every read themselves. */
const cluster = clusterSchema.parse({ redis: 'redis://127.0.0.1:6379/0', heartbeat: '1h', heartbeat_ttl: '2h' });

function setup(overrides: Partial<ClusterHost> = {}) {
  const store = new FakeStore();
  const lines: { msg: string; err?: string }[] = [];
  const logger = createLogger('info', new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as { msg: string });
      done();
    },
  }));
  const local = new Map<string, Health>([['f/b', 'up']]);
  const host: ClusterHost = {
    node: 'lb1', version: 'test', virtualRouterId: null,
    vrrp: () => 'BACKUP',
    localHealth: () => local,
    backends: () => new Set(['f/b']),
    appliedHealth: () => undefined,
    applyHealth: () => undefined,
    applyAdmin: async () => undefined,
    lastApply: () => null,
    applySharedConfig: async () => null,
    ...overrides,
  };
  const sync = new ClusterSync(store, cluster, host, logger);
  return { store, lines, sync };
}

const heartbeat = (node: string) => JSON.stringify({
  node, version: 'test', vrrp: 'BACKUP', virtual_router_id: null, config_revision: 0, config_error: null, last_apply: null, at: Date.now(),
});

test('a note whose handling fails is logged, not left as an unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const { store, lines, sync } = setup({ applySharedConfig: async () => { throw new Error('reload exploded'); } });
  try {
    await sync.start();
    await until(() => lines.some((l) => /resynchronised/.test(l.msg)));
    store.strings.set(store.keys.config, JSON.stringify({ rev: 1, node: 'lb2', at: 1, farms: [] }));
    store.note(JSON.stringify({ type: 'config', node: 'lb2', rev: 1 }));
    await until(() => lines.some((l) => l.msg === 'cluster note handling failed'));
    assert.equal(lines.find((l) => l.msg === 'cluster note handling failed')?.err, 'reload exploded');
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await sync.stop();
  }
});

test('a burst of peer notes runs at most two peer refreshes, one at a time, and ends current', async () => {
  const { store, lines, sync } = setup();
  store.strings.set(store.keys.node('lb2'), heartbeat('lb2'));
  store.hash(store.keys.health('lb2')).set('f/b', 'up');
  try {
    await sync.start();
    await until(() => lines.some((l) => /resynchronised/.test(l.msg)) && store.inFlight === 0);
    assert.deepEqual(sync.views('f/b'), { lb1: 'up', lb2: 'up' });
    store.calls.clear();
    store.maxInFlight = 0;

    const note = JSON.stringify({ type: 'health', node: 'lb2' });
    for (let i = 0; i < 10; i++) store.note(note);
    // The first refresh has read lb2's health; then lb2 changes its view and says so, repeatedly.
    await until(() => store.count('hgetall') >= 1);
    store.hash(store.keys.health('lb2')).set('f/b', 'down');
    for (let i = 0; i < 10; i++) store.note(note);

    await until(() => sync.views('f/b').lb2 === 'down');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(store.count('heartbeats') <= 2, `${store.count('heartbeats')} refreshes for one burst`);
    assert.equal(store.maxInFlight, 1);
    assert.deepEqual(sync.views('f/b'), { lb1: 'up', lb2: 'down' });
  } finally {
    await sync.stop();
  }
});

test('two config notes arriving together apply the revision once', async () => {
  const applied: number[] = [];
  const { store, lines, sync } = setup({
    applySharedConfig: async (shared) => {
      applied.push(shared.rev);
      // A reload takes a while: the second note arrives while the first is being applied.
      await new Promise((resolve) => setTimeout(resolve, 5));
      return null;
    },
  });
  try {
    await sync.start();
    await until(() => lines.some((l) => /resynchronised/.test(l.msg)));
    store.strings.set(store.keys.config, JSON.stringify({ rev: 1, node: 'lb2', at: 1, farms: [] }));
    const note = JSON.stringify({ type: 'config', node: 'lb2', rev: 1 });
    store.note(note);
    store.note(note);
    await until(() => lines.some((l) => /revision 1 applied/.test(l.msg)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(applied, [1]);
    assert.equal(sync.revision, 1);
  } finally {
    await sync.stop();
  }
});

test('a peer back from an outage is known, with its view, before its pending actions are followed', async () => {
  const viewsWhenApplied: Record<string, Health>[] = [];
  const { store, lines, sync } = setup({ applyAdmin: async (key) => { viewsWhenApplied.push(sync.views(key)); } });
  try {
    await sync.start();
    await until(() => lines.some((l) => /resynchronised/.test(l.msg)) && store.inFlight === 0);
    assert.deepEqual(sync.views('f/b'), { lb1: 'up' });

    // lb2 reconnects and resyncs as ClusterSync does: health and heartbeat, the note, then the
    // action it took with --local; the notes arrive back to back.
    store.hash(store.keys.health('lb2')).set('f/b', 'down');
    store.strings.set(store.keys.node('lb2'), heartbeat('lb2'));
    store.hash(store.keys.actions).set('f/b', JSON.stringify({ admin: 'maintenance', rev: 7, node: 'lb2', at: Date.now() }));
    store.note(JSON.stringify({ type: 'health', node: 'lb2' }));
    store.note(JSON.stringify({ type: 'action', node: 'lb2', rev: 7 }));

    await until(() => viewsWhenApplied.length === 1);
    assert.deepEqual(viewsWhenApplied[0], { lb1: 'up', lb2: 'down' });
  } finally {
    await sync.stop();
  }
});

test('on (re)connect a node writes its heartbeat and health before announcing them, and both before its pending actions', async () => {
  const { store, sync } = setup();
  const seenAtAnnouncement: { heartbeat: boolean; health: boolean; actions: number }[] = [];
  const publish = store.publish.bind(store);
  store.publish = async (note: string) => {
    if (JSON.parse(note).type === 'health') {
      seenAtAnnouncement.push({
        heartbeat: store.strings.has(store.keys.node('lb1')),
        health: store.hash(store.keys.health('lb1')).get('f/b') === 'up',
        actions: store.count('hsetAndPublish'),
      });
    }
    return publish(note);
  };
  // Disconnected: a --local action is kept for the reconnect.
  await sync.setAdmin('f/b', 'drain', true);
  try {
    await sync.start();
    await until(() => store.hash(store.keys.actions).has('f/b'));
    assert.deepEqual(seenAtAnnouncement, [{ heartbeat: true, health: true, actions: 0 }]);
  } finally {
    await sync.stop();
  }
});
