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

function setup(overrides: Partial<ClusterHost> = {}, clusterConfig = cluster, now: () => number = Date.now) {
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
    appliedAdmin: () => 'enabled',
    lastApply: () => null,
    applySharedConfig: async () => null,
    runningShared: async () => null,
    journal: { load: async () => new Map(), save: async () => undefined },
    ...overrides,
  };
  const sync = new ClusterSync(store, clusterConfig, host, logger, now);
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

test('Redis emptied while connected: the new epoch is seen at the next beat and the node republishes its actions, views and admin states', async () => {
  const { store, lines, sync } = setup({}, clusterSchema.parse({ redis: 'redis://127.0.0.1:6379/0', heartbeat: '20ms', heartbeat_ttl: '2h' }));
  try {
    await sync.start();
    await until(() => lines.some((l) => /resynchronised/.test(l.msg)));
    const { revision } = await sync.setAdmin('f/b', 'drain', false);
    store.flush();
    await until(() => store.hash(store.keys.actions).has('f/b'));
    assert.deepEqual(JSON.parse(store.hash(store.keys.actions).get('f/b')!), { rev: revision, admin: 'drain', node: 'lb1', at: JSON.parse(store.hash(store.keys.actions).get('f/b')!).at });
    await until(() => store.hash(store.keys.health('lb1')).get('f/b') === 'up' && store.hash(store.keys.admin('lb1')).get('f/b') === 'enabled');
    assert.equal(sync.dataLosses, 1);
    assert.ok(lines.some((l) => /lost its data/.test(l.msg)));
    // The next action is above the one remembered although the store's counter restarted.
    const after = await sync.setAdmin('f/b', 'enabled', false);
    assert.ok(after.revision! > revision!, `${after.revision} after ${revision}`);
  } finally {
    await sync.stop();
  }
});

test('a peer action taken after Redis lost its data is followed, though its revision was counted again from an empty store', async () => {
  const applied: string[] = [];
  const { store, lines, sync } = setup({ applyAdmin: async (_key, admin) => { applied.push(admin); } });
  try {
    await sync.start();
    await until(() => lines.some((l) => /resynchronised/.test(l.msg)));
    // lb2 drained f/b at revision 5000 (its clock), and this node followed.
    store.hash(store.keys.actions).set('f/b', JSON.stringify({ admin: 'drain', rev: 5000, node: 'lb2', at: 5000 }));
    store.note(JSON.stringify({ type: 'action', node: 'lb2', rev: 5000 }));
    await until(() => applied.length === 1);
    // Redis restarts empty; lb2 enables, through the store as the agent does it.
    store.flush();
    const rev = await store.newAction('f/b', { admin: 'enabled', node: 'lb2', at: Date.now() }, 5000, Date.now());
    store.note(JSON.stringify({ type: 'action', node: 'lb2', rev }));
    await until(() => applied.length === 2);
    assert.deepEqual(applied, ['drain', 'enabled']);
  } finally {
    await sync.stop();
  }
});

test('a --local action replayed after an outage loses to a later action another node took meanwhile', async () => {
  const applied: string[] = [];
  const { store, lines, sync } = setup({ applyAdmin: async (_key, admin) => { applied.push(admin); } });
  // Disconnected: the operator drains on this node only.
  await sync.setAdmin('f/b', 'drain', true);
  // Later, lb2 (connected) puts the backend in maintenance.
  await new Promise((resolve) => setTimeout(resolve, 5));
  await store.newAction('f/b', { admin: 'maintenance', node: 'lb2', at: Date.now() }, 0, Date.now());
  try {
    await sync.start();
    await until(() => applied.length === 2);
    assert.deepEqual(applied, ['drain', 'maintenance']);
    assert.equal(JSON.parse(store.hash(store.keys.actions).get('f/b')!).admin, 'maintenance');
    assert.ok(lines.some((l) => /--local drain of f\/b was superseded/.test(l.msg)));
  } finally {
    await sync.stop();
  }
});

test('a --local action replayed after an outage wins over an older one in the store', async () => {
  const { store, sync } = setup();
  store.hash(store.keys.actions).set('f/b', JSON.stringify({ admin: 'maintenance', rev: 10, node: 'lb2', at: 10 }));
  await sync.setAdmin('f/b', 'drain', true);
  try {
    await sync.start();
    await until(() => JSON.parse(store.hash(store.keys.actions).get('f/b')!).admin === 'drain');
  } finally {
    await sync.stop();
  }
});

test('a restarted node republishes the actions it journaled when the store is empty', async () => {
  const saved = new Map([['f/b', { admin: 'maintenance' as const, rev: 77, node: 'lb2', at: 77 }]]);
  const { store, sync } = setup({ journal: { load: async () => saved, save: async () => undefined } });
  try {
    await sync.start();
    await until(() => store.hash(store.keys.actions).has('f/b'));
    assert.deepEqual(JSON.parse(store.hash(store.keys.actions).get('f/b')!), saved.get('f/b'));
  } finally {
    await sync.stop();
  }
});

test('nodes that disagree on an admin state longer than a resync are logged, listed and healed; agreement again is logged', async () => {
  let own: 'enabled' | 'drain' = 'enabled';
  const { store, lines, sync } = setup({ appliedAdmin: () => own }, clusterSchema.parse({ redis: 'redis://127.0.0.1:6379/0', heartbeat: '100ms', heartbeat_ttl: '2h' }));
  store.strings.set(store.keys.node('lb2'), heartbeat('lb2'));
  store.hash(store.keys.admin('lb2')).set('f/b', 'drain');
  try {
    await sync.start();
    await until(() => lines.some((l) => /resynchronised/.test(l.msg)));
    assert.deepEqual(sync.adminViews('f/b'), { lb1: 'enabled', lb2: 'drain' });
    assert.deepEqual(sync.adminDisagreements(), [], 'not before the grace');
    await until(() => sync.adminDisagreements().length === 1, 3000);
    assert.equal(sync.adminDisagreements()[0]!.key, 'f/b');
    assert.equal(sync.adminDisagreementsTotal, 1);
    assert.ok(lines.some((l) => l.msg === 'nodes disagree on the admin state of f/b: lb1 enabled, lb2 drain'));
    own = 'drain';
    store.note(JSON.stringify({ type: 'health', node: 'lb2' }));
    await until(() => sync.adminDisagreements().length === 0);
    assert.ok(lines.some((l) => l.msg === 'nodes agree again on the admin state of f/b'));
  } finally {
    await sync.stop();
  }
});

test('with its clock far behind, a node still stamps its action above every revision it has seen', async () => {
  const { store, lines, sync } = setup({}, cluster, () => 1000);
  try {
    await sync.start();
    await until(() => lines.some((l) => /resynchronised/.test(l.msg)));
    store.hash(store.keys.actions).set('f/b', JSON.stringify({ admin: 'drain', rev: 5000, node: 'lb2', at: 5000 }));
    store.note(JSON.stringify({ type: 'action', node: 'lb2', rev: 5000 }));
    await until(() => sync.adminViews('f/b') !== undefined && store.count('hgetall') > 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    store.flush();
    const { revision } = await sync.setAdmin('f/b', 'enabled', false);
    assert.ok(revision! > 5000, `revision ${revision} at clock 1000 after seeing 5000`);
  } finally {
    await sync.stop();
  }
});

test('a resync that fails is tried again, and the reads ran regardless', async () => {
  const applied: string[] = [];
  const { store, lines, sync } = setup({
    applyAdmin: async (_key, admin) => { applied.push(admin); },
    runningShared: async () => ({ rev: 3, node: 'lb1', at: 3, farms: [] }),
  });
  store.hash(store.keys.actions).set('f/b', JSON.stringify({ admin: 'drain', rev: 10, node: 'lb2', at: 10 }));
  let failures = 1;
  const put = store.putConfigIfNewer.bind(store);
  store.putConfigIfNewer = async (config, now) => {
    if (failures-- > 0) throw new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
    return put(config, now);
  };
  try {
    await sync.start();
    await until(() => lines.some((l) => l.msg === 'cluster resync failed; trying again'));
    assert.deepEqual(applied, ['drain'], 'the actions were followed although the republish failed');
    await until(() => lines.some((l) => /resynchronised/.test(l.msg)), 3000);
  } finally {
    await sync.stop();
  }
});

test('one backend whose apply fails does not stop the cluster actions of the others', async () => {
  const applied: string[] = [];
  const { store, lines, sync } = setup({
    backends: () => new Set(['f/a', 'f/b']),
    applyAdmin: async (key, admin) => {
      if (key === 'f/a') throw new Error('iptables-restore: exit 1');
      applied.push(`${key} ${admin}`);
    },
  });
  store.hash(store.keys.actions).set('f/a', JSON.stringify({ admin: 'drain', rev: 10, node: 'lb2', at: 10 }));
  store.hash(store.keys.actions).set('f/b', JSON.stringify({ admin: 'maintenance', rev: 11, node: 'lb2', at: 11 }));
  try {
    await sync.start();
    await until(() => applied.length === 1);
    assert.deepEqual(applied, ['f/b maintenance']);
    assert.ok(lines.some((l) => /applying the cluster's drain of f\/a failed/.test(l.msg)));
  } finally {
    await sync.stop();
  }
});

test('after a reload the node writes its admin states again (a config admin change is announced)', async () => {
  let own: 'enabled' | 'drain' = 'enabled';
  const { store, lines, sync } = setup({ appliedAdmin: () => own });
  try {
    await sync.start();
    await until(() => lines.some((l) => /resynchronised/.test(l.msg)));
    assert.equal(store.hash(store.keys.admin('lb1')).get('f/b'), 'enabled');
    own = 'drain';
    sync.reconfigured();
    await until(() => store.hash(store.keys.admin('lb1')).get('f/b') === 'drain');
  } finally {
    await sync.stop();
  }
});

test('a node back after Redis faults catches up at once, not after the backoff of resyncs that failed before the outage', async () => {
  const { store, lines, sync } = setup();
  const resyncs = () => lines.filter((l) => /resynchronised/.test(l.msg)).length;
  try {
    await sync.start();
    await until(() => resyncs() === 1);
    // Resyncs fail three times in a row on one connection (cut by faults): the backoff grows.
    store.failures.set('hsetMany', 3);
    store.drop();
    await store.connect();
    await until(() => store.failures.get('hsetMany') === 0, 5000);
    // Redis goes and returns; the first resync on the new connection fails too (say, cut again).
    store.drop();
    store.failures.set('hsetMany', 1);
    const back = Date.now();
    await store.connect();
    await until(() => resyncs() === 2, 5000);
    const took = Date.now() - back;
    // One retry at the first step of a new series (500 ms), not the 4 s the old series reached.
    assert.ok(took < 1500, `caught up ${took} ms after the reconnect`);
  } finally {
    await sync.stop();
  }
});
