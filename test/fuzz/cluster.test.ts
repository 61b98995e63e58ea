// Fuzzing what the agent reads from Redis: every message schema through parseValue, peers'
// heartbeats and health/admin hashes through readPeerEntries, and notes, action records (huge,
// negative, float, NaN revisions) and shared configs through ClusterSync on an in-memory store.
// Property: a typed value or a reason, never an exception, an unhandled rejection, or an admin
// state applied to a key or with a value the schema does not allow.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clusterSchema, ADMIN_STATES, BACKEND_NAME, FARM_NAME, NODE_ID } from '../../config/schema.js';
import { silentLogger } from '../../agent/log.js';
import { actionSchema, heartbeatSchema, noteSchema, parseValue, sharedConfigSchema, healthValue, adminValue } from '../../agent/cluster/messages.js';
import { readPeerEntries } from '../../agent/cluster/peers.js';
import { ClusterSync, type ClusterHost } from '../../agent/cluster/sync.js';
import { MAX_REVISION } from '../../agent/cluster/order.js';
import { FakeStore } from '../cluster/fake-store.js';
import { anyText, HEAP_BOUND, heapGrowth, params, PROTO_WORDS, runs, testTimeout } from './support.js';

const NOW = Date.now();
const revision = fc.oneof(fc.integer({ min: 1, max: NOW }), fc.constantFrom(0, -1, 1.5, NOW + 1e12, MAX_REVISION, MAX_REVISION + 1, 2 ** 53, 1e308),
  fc.double(), fc.constant('NaN'), fc.constant(null));
const nodeId = fc.oneof(fc.constantFrom('lb1', 'lb2', 'lb3', 'LB2', '', 'a'.repeat(33), ...PROTO_WORDS), fc.string({ maxLength: 10 }));
const backendKey = fc.oneof(fc.constantFrom('f/b', 'app/app0', 'web/b1', 'f/', '/b', 'f/b/c', '__proto__/x', 'f/constructor'), anyText(20));
const admin = fc.oneof(fc.constantFrom(...ADMIN_STATES), fc.constantFrom('', 'DRAIN', 'up', 'toString'), anyText(8));

const action = fc.record({ admin, rev: revision, node: nodeId, at: fc.oneof(fc.integer(), fc.double()) }, { requiredKeys: [] });
const heartbeat = fc.record({
  node: nodeId, version: anyText(70), vrrp: fc.constantFrom('MASTER', 'BACKUP', 'FAULT', 'STOP', 'x'),
  virtual_router_id: fc.oneof(fc.integer({ min: -1, max: 300 }), fc.constant(null)), config_revision: revision,
  config_error: fc.oneof(fc.constant(null), anyText(50)), last_apply: fc.oneof(fc.constant(null), fc.integer()), at: fc.integer({ min: 0, max: NOW }),
}, { requiredKeys: [] });
const note = fc.record({ type: fc.constantFrom('action', 'health', 'config', 'heartbeat', 'other'), node: nodeId, rev: revision }, { requiredKeys: [] });
const shared = fc.record({ rev: revision, node: nodeId, at: fc.integer(), farms: fc.oneof(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 }), fc.jsonValue()) }, { requiredKeys: [] });

/** A value as Redis may hold it: the right shape, mangled JSON, other JSON, or junk. */
const raw = (shape: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof(
  shape.map((v) => JSON.stringify(v)),
  fc.tuple(shape, fc.nat(), anyText(6)).map(([v, at, s]) => { const t = JSON.stringify(v); const i = at % (t.length + 1); return t.slice(0, i) + s + t.slice(i + 1); }),
  fc.jsonValue().map((v) => JSON.stringify(v)), anyText(100), fc.constant(null), fc.constant(undefined), fc.integer(),
  fc.nat(300_000).map((n) => `"${'x'.repeat(n)}"`),
);

const SCHEMAS = { action: actionSchema, heartbeat: heartbeatSchema, note: noteSchema, shared: sharedConfigSchema, health: healthValue, admin: adminValue };
const SHAPES = { action, heartbeat, note, shared, health: anyText(8), admin };

describe('fuzz: Redis content', () => {
  const RUNS = 3000;
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`parseValue(${name}): any stored value is a valid ${name} or a reason (${runs(RUNS)} runs)`, { timeout: testTimeout(30_000, RUNS) }, () => {
      fc.assert(fc.property(raw(SHAPES[name as keyof typeof SHAPES]), (value) => {
        const parsed = parseValue(schema as never, value);
        if (!parsed.ok) return assert.ok(typeof parsed.reason === 'string' && parsed.reason.length > 0 && parsed.reason.length < 1000, parsed.reason);
        // What is accepted is exactly what the schema accepts.
        assert.equal(schema.safeParse(parsed.value).success, true);
        const v = parsed.value as { rev?: number; node?: string };
        if (v.rev !== undefined) assert.ok(Number.isInteger(v.rev) && v.rev >= 0 && v.rev <= MAX_REVISION);
        if (v.node !== undefined) assert.match(v.node, NODE_ID);
      }), params(RUNS));
    });
  }

  it('regression: a 256 KiB admin value in Redis gives a short reason, not the value in the log', () => {
    const parsed = parseValue(adminValue, JSON.stringify('x'.repeat(250_000)));
    assert.equal(parsed.ok, false);
    assert.ok(!parsed.ok && parsed.reason.length <= 203, `reason of ${!parsed.ok && parsed.reason.length} characters`);
  });

  const PEER_RUNS = 1000;
  it(`readPeerEntries: random heartbeats and hashes give valid peers and entries only (${runs(PEER_RUNS)} runs)`, { timeout: testTimeout(30_000, PEER_RUNS) }, async () => {
    await fc.assert(fc.asyncProperty(fc.array(raw(heartbeat), { maxLength: 5 }), fc.array(fc.tuple(backendKey, fc.oneof(admin, fc.constantFrom('up', 'down', 'unknown'))), { maxLength: 8 }), async (hbs, entries) => {
      const store = new FakeStore();
      hbs.forEach((hb, i) => { if (typeof hb === 'string') store.strings.set(store.keys.node(`n${i}`), hb); });
      for (const node of ['lb2', 'lb3']) for (const [k, v] of entries) { store.hash(store.keys.health(node)).set(k, v); store.hash(store.keys.admin(node)).set(k, v); }
      const rejected: string[] = [];
      const { all, peers } = await readPeerEntries(store, 'lb1', (what, reason) => rejected.push(`${what}: ${reason}`));
      for (const hb of all) assert.equal(heartbeatSchema.safeParse(hb).success, true);
      for (const [node, peer] of peers) {
        assert.match(node, NODE_ID);
        for (const [key, h] of peer.health) { assertKey(key); assert.ok(['up', 'down', 'unknown'].includes(h)); }
        for (const [key, a] of peer.admin) { assertKey(key); assert.ok((ADMIN_STATES as readonly string[]).includes(a)); }
      }
    }), params(PEER_RUNS, 2000));
  });

  const SYNC_RUNS = 150;
  const SYNC_LONG_CAP = 10_000;
  it(`ClusterSync: random notes, actions and shared configs apply only valid admin states to valid keys (${runs(SYNC_RUNS, SYNC_LONG_CAP)} runs)`, { timeout: testTimeout(120_000, SYNC_RUNS, SYNC_LONG_CAP) }, async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const growth = await heapGrowth(() => fc.assert(fc.asyncProperty(
        fc.array(fc.tuple(backendKey, raw(action)), { maxLength: 6 }), fc.option(raw(shared)), fc.array(raw(note), { maxLength: 6 }),
        async (actions, config, notes) => {
          const store = new FakeStore();
          const applied: [string, string][] = [];
          const configs: unknown[] = [];
          const host: ClusterHost = {
            node: 'lb1', version: 'fuzz', virtualRouterId: null, vrrp: () => 'BACKUP',
            localHealth: () => new Map([['f/b', 'up']]), backends: () => new Set(['f/b', 'app/app0', 'f/constructor']),
            appliedHealth: () => undefined, applyHealth: () => undefined,
            applyAdmin: async (key, a) => { applied.push([key, a]); }, appliedAdmin: () => 'enabled', lastApply: () => null,
            applySharedConfig: async (s) => { configs.push(s); return null; }, runningShared: async () => null,
            journal: { load: async () => new Map(), save: async () => undefined },
          };
          for (const [k, v] of actions) if (typeof v === 'string') store.hash(store.keys.actions).set(k, v);
          if (typeof config === 'string') store.strings.set(store.keys.config, config);
          const sync = new ClusterSync(store, CLUSTER, host, silentLogger);
          try {
            await sync.start();
            for (const n of notes) if (typeof n === 'string') store.note(n);
            // Let the resync and the notes' reads run (each FakeStore read is a 1 ms tick).
            await new Promise((r) => setTimeout(r, 15));
          } finally {
            await sync.stop();
          }
          for (const [key, a] of applied) { assertKey(key); assert.ok((ADMIN_STATES as readonly string[]).includes(a), a); }
          for (const s of configs) assert.equal(sharedConfigSchema.safeParse(s).success, true);
          assert.ok(Number.isInteger(sync.revision) && sync.revision >= 0 && sync.revision <= NOW + 24 * 3600_000, `revision ${sync.revision}`);
        }), params(SYNC_RUNS, 5000, SYNC_LONG_CAP)));
      assert.ok(growth < HEAP_BOUND, `heap grew ${growth} bytes`);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

/** A hash key the agent acts on: farm/backend with both names in their documented sets. */
function assertKey(key: string): void {
  const [farm, backend, ...rest] = key.split('/');
  assert.equal(rest.length, 0, key);
  assert.match(farm!, FARM_NAME);
  assert.match(backend!, BACKEND_NAME);
}

const CLUSTER = clusterSchema.parse({ redis: 'redis://127.0.0.1:6379/0', heartbeat: '1h', heartbeat_ttl: '2h' });
