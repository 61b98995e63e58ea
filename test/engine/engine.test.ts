// The engine with a fake Netfilter: events coalesce into one transaction, cuts come after the
// rules changed, failures are retried without losing work, reloads touch only changed farms.
// Tests about time (the coalescing window, the retry delay) run on the fake clock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsedConfig } from '../support/config.js';
import type { Config } from '../../config/schema.js';
import { Engine } from '../../agent/engine/engine.js';
import { FakeNetfilter } from '../../agent/apply/netfilter.fake.js';
import type { ConnTracker } from '../../agent/apply/conntrack.js';
import { silentLogger } from '../../agent/log.js';
import type { SavedBackend } from '../../agent/state/store.js';
import { FakeClock } from '../../checks/clock.fake.js';

const FARMS = `node: { id: lb1 }
farms:
  - name: a
    vip: 10.1.0.100
    ports: [80]
    backends: [{ name: x, ip: 10.2.0.11, port: 80 }, { name: y, ip: 10.2.0.12, port: 80 }]
  - name: b
    vip: 10.1.0.101
    ports: [80]
    cut_on_down: false
    backends: [{ name: z, ip: 10.2.0.13, port: 80 }]
`;

function config(extra = ''): Config {
  return parsedConfig(`${FARMS}${extra}`);
}

/** Advances the fake clock a millisecond at a time until `promise` settles (within `limitMs`). */
async function within<T>(clock: FakeClock, promise: Promise<T>, limitMs = 1000): Promise<T> {
  let settled = false;
  promise.then(() => { settled = true; }, () => { settled = true; });
  for (let ms = 0; ms < limitMs && !settled; ms++) await clock.advance(1);
  return promise;
}

/** The engine on the system clock, or on `clock` (which then also gives the time stamps). */
function setup(saved = new Map<string, SavedBackend>(), clock?: FakeClock) {
  const netfilter = new FakeNetfilter();
  const order: string[] = [];
  netfilter.onSync = () => order.push('sync');
  const conntrack: ConnTracker & { cuts: number[] } = { cuts: [], cut: async (mark) => { order.push('cut'); conntrack.cuts.push(mark); return 1; } };
  const persisted: Map<string, SavedBackend>[] = [];
  const engine = new Engine({
    netfilter, conntrack, logger: silentLogger, now: clock ? () => clock.now() : Date.now, ...(clock ? { clock } : {}),
    persist: async (b) => { persisted.push(new Map(b)); }, coalesceMs: 5, retryMs: 50,
  });
  return { engine, netfilter, conntrack, order, persisted, start: () => engine.start(config(), saved, new Map()) };
}

test('events within the coalescing window become one transaction covering every changed farm', async () => {
  const { engine, netfilter, start } = setup();
  await start();
  const before = netfilter.syncs.length;
  engine.setHealth('a', 'x', 'down', 'test');
  engine.setHealth('b', 'z', 'down', 'test');
  await engine.requestSync([]);
  assert.equal(netfilter.syncs.length - before, 1);
  assert.deepEqual(netfilter.syncs.at(-1)!.changed, ['a', 'b']);
  assert.deepEqual(netfilter.chainOf('a'), ['y']);
  assert.deepEqual(netfilter.chainOf('b'), []);
});

test('the window is time, not a turn of the event loop: events 2 ms apart share a transaction, 40 ms apart do not', async () => {
  const clock = new FakeClock();
  const { engine, netfilter, start } = setup(new Map(), clock);
  await within(clock, start());
  const before = netfilter.syncs.length;
  engine.setHealth('a', 'x', 'down', 'test');
  await clock.advance(2);
  assert.equal(netfilter.syncs.length, before, 'nothing is applied inside the window');
  engine.setHealth('b', 'z', 'down', 'test');
  const joined = engine.requestSync([]);
  await clock.advance(3);
  await joined;
  assert.equal(netfilter.syncs.length - before, 1);
  assert.deepEqual(netfilter.syncs.at(-1)!.changed, ['a', 'b']);

  engine.setHealth('a', 'x', 'up', 'test');
  await clock.advance(40);
  engine.setHealth('b', 'z', 'up', 'test');
  await within(clock, engine.requestSync([]));
  assert.deepEqual(netfilter.syncs.slice(before + 1).map((s) => s.changed), [['a'], ['b']]);
});

test('a down backend is cut after the rules changed, only where cut_on_down holds; maintenance cuts too, drain does not', async () => {
  const { engine, conntrack, order, start } = setup();
  await start();
  order.length = 0;
  engine.setHealth('a', 'x', 'down', 'test');
  engine.setHealth('b', 'z', 'down', 'test');
  await engine.requestSync([]);
  assert.deepEqual(order, ['sync', 'cut'], 'one cut (farm b has cut_on_down false), after the sync');
  assert.equal(conntrack.cuts[0], engine.marks.get('a/x'));
  await engine.setAdmin('a', 'y', 'drain');
  assert.equal(conntrack.cuts.length, 1);
  await engine.setAdmin('a', 'y', 'maintenance');
  assert.deepEqual(conntrack.cuts, [engine.marks.get('a/x'), engine.marks.get('a/y')]);
});

test('a failed apply rejects its waiters, keeps the work, and retries it later', async () => {
  const clock = new FakeClock();
  const { engine, netfilter, start } = setup(new Map(), clock);
  await within(clock, start());
  netfilter.failNext = 1;
  engine.setHealth('a', 'x', 'down', 'test');
  await assert.rejects(within(clock, engine.requestSync([])), /resource busy/);
  assert.equal(engine.dataplane.inSync, false);
  assert.match(engine.dataplane.lastError!, /resource busy/);
  await clock.advance(40);
  assert.deepEqual(netfilter.chainOf('a'), ['x', 'y'], 'not retried before the retry delay');
  // The retry (50 ms after the failure), then its coalescing window.
  await clock.advance(20);
  assert.deepEqual(netfilter.chainOf('a'), ['y']);
  assert.equal(engine.dataplane.inSync, true);
});

test('saved state: a backend down before the restart starts down, an operator drain is kept', async () => {
  const { engine, netfilter, start } = setup(new Map([['a/x', { health: 'down', since: 1 }], ['a/y', { health: 'up', admin: 'drain', since: 1 }]]));
  await start();
  assert.deepEqual(netfilter.chainOf('a'), []);
  assert.equal(engine.adminOf(engine.farmConfig('a')!, 'y'), 'drain');
});

test('persistence happens after the apply and ends with the latest state', async () => {
  const { engine, persisted, start } = setup();
  await start();
  engine.setHealth('a', 'x', 'down', 'test');
  await engine.requestSync([]);
  await engine.flushPersist();
  assert.equal(persisted.at(-1)!.get('a/x')!.health, 'down');
});

test('reload re-plans only the farms whose definition changed, and a config edit of admin beats an old override', async () => {
  const { engine, netfilter, start } = setup();
  await start();
  await engine.setAdmin('b', 'z', 'drain');
  const next = config(`  - name: c
    vip: 10.1.0.102
    ports: [80]
    backends: [{ name: w, ip: 10.2.0.14, port: 80 }]
`);
  const changed = await engine.reload(next);
  assert.deepEqual(changed, ['c']);
  assert.deepEqual(netfilter.syncs.at(-1)!.changed, ['c']);
  assert.equal(engine.adminOf(engine.farmConfig('b')!, 'z'), 'drain', 'unchanged config keeps the override');
});

test('reload re-applies an unchanged farm whose marks moved, so no two farms share a mark in the kernel', async () => {
  const { engine, netfilter, start } = setup();
  await start();
  const taken = engine.marks.get('a/x')!;
  // Farm b now pins z to the mark a/x was given by hash: a/x must move, and farm a with it.
  const next = parsedConfig(FARMS.replace('{ name: z, ip: 10.2.0.13, port: 80 }', `{ name: z, ip: 10.2.0.13, port: 80, mark: 0x${taken.toString(16)} }`));
  assert.deepEqual(await engine.reload(next), ['b']);
  assert.notEqual(engine.marks.get('a/x'), taken);
  assert.deepEqual(netfilter.syncs.at(-1)!.changed, ['a', 'b']);
  const marks = netfilter.syncs.at(-1)!.desired.farms.flatMap((f) => f.backends.map((b) => b.mark));
  assert.equal(new Set(marks).size, marks.length, `marks in the kernel: ${marks.map((m) => m.toString(16))}`);
});

test('exclusive: a drift check waits for the apply in flight, and holds the next apply until it is done', async () => {
  const clock = new FakeClock();
  const { engine, netfilter, conntrack, order, start } = setup(new Map(), clock);
  await within(clock, start());
  const tick = () => clock.advance(30);
  let releaseCut!: () => void;
  const cutGate = new Promise<void>((resolve) => (releaseCut = resolve));
  conntrack.cut = async () => {
    order.push('cut');
    await cutGate;
    return 1;
  };
  let releaseCheck!: () => void;
  const checkGate = new Promise<void>((resolve) => (releaseCheck = resolve));
  const first = order.length;
  engine.setHealth('a', 'x', 'down', 'test');
  await tick(); // the apply is in flight, held in its conntrack cut
  const held = engine.exclusive(async () => {
    order.push('exclusive start');
    await checkGate;
    order.push('exclusive end');
  });
  await tick();
  assert.deepEqual(order.slice(first), ['sync', 'cut'], 'the exclusive task waits for the apply in flight');
  releaseCut();
  await tick();
  engine.setHealth('a', 'y', 'down', 'test');
  const applied = engine.requestSync([]);
  await tick();
  assert.deepEqual(order.slice(first), ['sync', 'cut', 'exclusive start'], 'no apply while the exclusive task runs');
  releaseCheck();
  await held;
  await within(clock, applied);
  assert.deepEqual(order.slice(first), ['sync', 'cut', 'exclusive start', 'exclusive end', 'sync', 'cut']);
  assert.deepEqual(netfilter.chainOf('a'), []);
});
