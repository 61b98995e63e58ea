// Marks are stable across restarts, reordering and nodes, stay in range, and never collide.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignMarks, markKey } from '../../agent/plan/marks.js';

type Farms = { farms: { name: string; backends: { name: string; mark?: number }[] }[] };
const range = { min: 0x200, max: 0x3fff };

function farms(count: number, backends: number): Farms {
  return { farms: Array.from({ length: count }, (_, f) => ({ name: `farm${f}`, backends: Array.from({ length: backends }, (_, b) => ({ name: `b${b}` })) })) };
}

test('the same farms give the same marks on every node, whatever the order', () => {
  const a = assignMarks(farms(50, 10) as never, range);
  const shuffled = farms(50, 10);
  shuffled.farms.reverse().forEach((f) => f.backends.reverse());
  const b = assignMarks(shuffled as never, range);
  assert.deepEqual([...a].sort(), [...b].sort());
});

test('10000 backends: every mark unique and inside the range', () => {
  const marks = assignMarks(farms(1000, 10) as never, range);
  assert.equal(marks.size, 10000);
  assert.equal(new Set(marks.values()).size, 10000);
  for (const m of marks.values()) assert.ok(m >= range.min && m <= range.max);
});

test('adding a farm keeps the marks of the others when the previous marks are passed in', () => {
  const before = assignMarks(farms(100, 10) as never, range);
  const more = farms(101, 10);
  const after = assignMarks(more as never, range, before);
  for (const [key, mark] of before) assert.equal(after.get(key), mark, key);
});

test('pinned marks win, and previous marks outside the range are re-derived', () => {
  const config = { farms: [{ name: 'app', backends: [{ name: 'app0', mark: 0x20c }, { name: 'app1', mark: 0x20d }, { name: 'app2' }] }] };
  const marks = assignMarks(config as never, range, new Map([[markKey('app', 'app2'), 0x20c], [markKey('app', 'x'), 5]]));
  assert.equal(marks.get('app/app0'), 0x20c);
  assert.equal(marks.get('app/app1'), 0x20d);
  assert.ok(![0x20c, 0x20d].includes(marks.get('app/app2')!));
});

test('too many backends for the range is an error, not a collision', () => {
  assert.throws(() => assignMarks(farms(1, 5) as never, { min: 0x200, max: 0x203 }), /no free mark/);
});
