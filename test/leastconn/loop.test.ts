// The load loop: reads counts only for farms that need them (leastconn, max_conns), by each
// backend's mark and the farm's family; re-plans a farm only when its loads change; a failed
// read keeps the last loads; reads are spaced to ten times their cost, at least count_interval.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../checks/clock.fake.js';
import { LoadBook, LoadLoop } from '../../agent/leastconn/loop.js';
import { createLogger } from '../../agent/log.js';
import { assignMarks } from '../../agent/plan/marks.js';
import { parsedConfig } from '../support/config.js';

const config = parsedConfig(`node: { id: lb1 }
farms:
  - { name: lc, vip: 10.1.0.100, ports: [80], algorithm: leastconn, backends: [{ name: a, ip: 10.2.0.11, port: 80 }, { name: b, ip: 10.2.0.12, port: 80 }] }
  - { name: plain, vip: 10.1.0.101, ports: [80], backends: [{ name: a, ip: 10.2.0.11, port: 80 }] }
  - { name: cap6, vip: "fd00:1::100", ports: [80], backends: [{ name: a, ip: "fd00:2::11", port: 80, max_conns: 3 }] }
`);
const marks = assignMarks(config, { min: 0x200, max: 0x3fff });

function setup(counts: Map<number, number>, opts: { fail?: boolean } = {}) {
  const clock = new FakeClock(0);
  const reads: string[] = [];
  const replans: string[] = [];
  const book = new LoadBook();
  const counter = {
    count: async (mark: number, _mask: number, family: string) => {
      reads.push(`${mark.toString(16)}/${family}`);
      if (opts.fail) throw new Error('conntrack: no such table');
      return counts.get(mark) ?? 0;
    },
  };
  const loop = new LoadLoop({ target: { config, marks, replan: (farm) => replans.push(farm) }, book, counter, clock, logger: createLogger('silent') });
  return { loop, reads, replans, book, clock };
}

test('only farms that need counts are read, by mark and family; a change re-plans the farm', async () => {
  const s = setup(new Map([[marks.get('lc/a')!, 20], [marks.get('cap6/a')!, 3]]));
  await s.loop.tick();
  assert.deepEqual(s.reads, [`${marks.get('lc/a')!.toString(16)}/ipv4`, `${marks.get('lc/b')!.toString(16)}/ipv4`, `${marks.get('cap6/a')!.toString(16)}/ipv6`]);
  assert.deepEqual(s.replans, ['lc', 'cap6']);
  assert.ok(s.book.view(config.farms[0]!, 'a').loadFactor! < 0.1);
  assert.equal(s.book.view(config.farms[2]!, 'a').full, true);
  // The same counts again: nothing to re-plan.
  await s.loop.tick();
  assert.deepEqual(s.replans, ['lc', 'cap6']);
});

test('a failed read keeps the last loads and re-plans nothing', async () => {
  const s = setup(new Map(), { fail: true });
  await s.loop.tick();
  assert.deepEqual(s.replans, []);
  assert.deepEqual(s.book.view(config.farms[0]!, 'a'), {});
});

test('reads are spaced to ten times what they cost, and at least count_interval', async () => {
  // A clock whose time moves only as the reads cost, and which records the delays asked for.
  let now = 0;
  const delays: number[] = [];
  const pending: (() => void)[] = [];
  const clock = { now: () => now, setTimer: (fn: () => void, ms: number) => { delays.push(ms); pending.push(fn); return pending.length; }, clearTimer: () => undefined };
  let cost = 300;
  const counter = { count: async () => { now += cost; return 0; } };
  const loop = new LoadLoop({ target: { config, marks, replan: () => undefined }, book: new LoadBook(), counter, clock, logger: createLogger('silent') });
  loop.start();
  const runNext = async () => {
    pending.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  await runNext();
  // Three reads of 300 ms: the next pass waits 9 s rather than the 1 s interval.
  assert.deepEqual(delays, [0, 9000]);
  cost = 1;
  await runNext();
  assert.deepEqual(delays, [0, 9000, 1000]);
  loop.stop();
});
