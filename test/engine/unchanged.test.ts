// The engine leaves out of its transactions the farms whose rules did not change: backends found
// up at start (unknown -> up) cost no render and no apply, however many there are, while a real
// change is applied as before, in its own coalescing window. Fake Netfilter, fake clock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsedConfig } from '../support/config.js';
import { Engine } from '../../agent/engine/engine.js';
import { FakeNetfilter } from '../../agent/apply/netfilter.fake.js';
import type { ConnTracker } from '../../agent/apply/conntrack.js';
import { silentLogger } from '../../agent/log.js';
import type { SavedBackend } from '../../agent/state/store.js';
import { FakeClock } from '../../checks/clock.fake.js';

const FARMS = 20;
const BACKENDS = 50;

/** FARMS farms of BACKENDS backends, tcp checks; in each farm the last backend is a backup (priority 2). */
function bigConfig() {
  const lines = ['node: { id: lb1 }', 'farms:'];
  for (let f = 0; f < FARMS; f++) {
    lines.push(`  - name: f${f}`, `    vip: 10.1.${f}.100`, '    ports: [80]', '    check: { type: tcp, interval: 1s, timeout: 500ms }', '    backends:');
    for (let b = 0; b < BACKENDS; b++) lines.push(`      - { name: b${b}, ip: 10.2.${f}.${b + 1}, port: 80${b === BACKENDS - 1 ? ', priority: 2' : ''} }`);
  }
  return parsedConfig(`${lines.join('\n')}\n`);
}

function setup() {
  const clock = new FakeClock(1_000_000);
  const netfilter = new FakeNetfilter();
  const conntrack: ConnTracker & { cuts: number[] } = { cuts: [], cut: async (mark) => { conntrack.cuts.push(mark); return 1; } };
  const persisted: Map<string, SavedBackend>[] = [];
  const engine = new Engine({
    netfilter, conntrack, logger: silentLogger, now: () => clock.now(), clock,
    persist: async (b) => { persisted.push(new Map(b)); }, coalesceMs: 5, retryMs: 1000,
  });
  return { clock, netfilter, conntrack, persisted, engine };
}

/** Advances the fake clock until `promise` settles. */
async function within<T>(clock: FakeClock, promise: Promise<T>, limitMs = 2000): Promise<T> {
  let settled = false;
  promise.then(() => { settled = true; }, () => { settled = true; });
  for (let ms = 0; ms < limitMs && !settled; ms++) await clock.advance(1);
  return promise;
}

/** Every backend's first check passes, spread over one check interval as the scheduler spreads them. */
async function allComeUp(clock: FakeClock, engine: Engine, farms = FARMS): Promise<void> {
  const keys: [string, string][] = [];
  for (let b = 0; b < BACKENDS; b++) for (let f = 0; f < farms; f++) keys.push([`f${f}`, `b${b}`]);
  for (let i = 0; i < keys.length; i++) {
    engine.setHealth(keys[i]![0], keys[i]![1], 'up', 'check passed');
    if (i % 2 === 1) await clock.advance(1);
  }
  await clock.advance(50);
}

test(`${FARMS * BACKENDS} backends found up after start cost no transaction, and every one is shown and saved up`, async () => {
  const { clock, netfilter, persisted, engine } = setup();
  await within(clock, engine.start(bigConfig(), new Map(), new Map()));
  assert.equal(netfilter.syncs.length, 1, 'the start applies every farm once');
  assert.equal(netfilter.syncs[0]!.changed?.length, FARMS);

  await allComeUp(clock, engine);
  assert.equal(netfilter.syncs.length, 1, `unknown -> up changes no rule, yet ${netfilter.syncs.length - 1} more transactions ran`);
  const shown = engine.desired().farms.flatMap((f) => f.backends.map((b) => b.health));
  assert.deepEqual(new Set(shown), new Set(['up']));
  await engine.flushPersist();
  assert.deepEqual(new Set([...persisted.at(-1)!.values()].map((s) => s.health)), new Set(['up']));
});

test('a backend going down is applied in its window, alone, among unchanged verdicts of other farms', async () => {
  const { clock, netfilter, engine } = setup();
  await within(clock, engine.start(bigConfig(), new Map(), new Map()));
  await allComeUp(clock, engine, FARMS / 2);
  const before = netfilter.syncs.length;
  engine.setHealth('f0', 'b3', 'down', 'check failed');
  for (let f = FARMS / 2; f < FARMS; f++) engine.setHealth(`f${f}`, 'b0', 'up', 'check passed');
  await clock.advance(4);
  assert.equal(netfilter.syncs.length, before, 'nothing before the coalescing window ends');
  await clock.advance(1);
  assert.equal(netfilter.syncs.length, before + 1);
  assert.deepEqual(netfilter.syncs.at(-1)!.changed, ['f0']);
  assert.equal(netfilter.chainOf('f0').includes('b3'), false);
});

test('a backup found down changes no rule: no transaction, but its connections are still cut', async () => {
  const { clock, netfilter, conntrack, engine } = setup();
  await within(clock, engine.start(bigConfig(), new Map(), new Map()));
  const before = netfilter.syncs.length;
  await within(clock, (async () => {
    engine.setHealth('f2', `b${BACKENDS - 1}`, 'down', 'check failed');
    await engine.requestSync([]);
  })());
  assert.equal(netfilter.syncs.length, before);
  assert.deepEqual(conntrack.cuts, [engine.marks.get(`f2/b${BACKENDS - 1}`)]);
});

test('after a failed apply nothing is left out: the next change applies every farm, unchanged ones too', async () => {
  const { clock, netfilter, engine } = setup();
  await within(clock, engine.start(bigConfig(), new Map(), new Map()));
  netfilter.failNext = 1;
  engine.setHealth('f0', 'b0', 'down', 'check failed');
  await assert.rejects(within(clock, engine.requestSync([])), /resource busy/);
  const before = netfilter.syncs.length;
  // An unchanged verdict, before the retry is due: the kernel may not hold what was planned.
  engine.setHealth('f5', 'b0', 'up', 'check passed');
  await within(clock, engine.requestSync([]), 100);
  assert.equal(netfilter.syncs.length, before + 1);
  assert.equal(netfilter.syncs.at(-1)!.changed?.length, FARMS);
  assert.equal(netfilter.chainOf('f0').includes('b0'), false);
  // With the kernel known again, the retry finds nothing left to change.
  await clock.advance(1100);
  assert.equal(netfilter.syncs.length, before + 1);
});

test('a reload that changes the mark mask applies every farm, whatever farms it names', async () => {
  const { clock, netfilter, engine } = setup();
  const config = bigConfig();
  await within(clock, engine.start(config, new Map(), new Map()));
  const before = netfilter.syncs.length;
  await within(clock, engine.reload({ ...config, dataplane: { ...config.dataplane, mark_mask: 0x7fff } }));
  assert.equal(netfilter.syncs.length, before + 1);
  assert.equal(netfilter.syncs.at(-1)!.changed?.length, FARMS);
  assert.equal(netfilter.syncs.at(-1)!.desired.markMask, 0x7fff);
});
