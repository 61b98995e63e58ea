// Connection counts -> leastconn factors and max_conns fullness, with hysteresis: table-driven.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { farmSchema, type FarmConfig } from '../../config/schema.js';
import { factors, nextLoad, type BackendLoad } from '../../agent/leastconn/load.js';

const farm = (algorithm: string, backends: Record<string, unknown>[]): FarmConfig => farmSchema.parse({
  name: 'app', vip: '192.0.2.10', ports: [80], algorithm, backends: backends.map((b, i) => ({ name: `b${i + 1}`, ip: `10.0.0.${i + 1}`, port: 80, ...b })),
});
const counts = (...n: number[]) => new Map(n.map((c, i) => [`b${i + 1}`, c]));
const loads = (entries: [number, number, boolean][]) => new Map<string, BackendLoad>(entries.map(([smoothed, factor, full], i) => [`b${i + 1}`, { smoothed, factor, full }]));

test('factors: the least loaded per weight keeps 1, a backend with k times more gets about 1/k', () => {
  const f = factors(farm('leastconn', [{}, {}, { weight: 2 }]), counts(30, 0, 0));
  assert.deepEqual([...f.values()].map((x) => Number(x.toFixed(3))), [0.032, 1, 1]);
  // Weight 2 holding 20 carries the load of weight 1 holding 10.
  const g = factors(farm('leastconn', [{}, { weight: 2 }]), counts(10, 20));
  assert.deepEqual([...g.values()], [1, 1]);
});

const CASES: readonly { name: string; farm: FarmConfig; counts: Map<string, number>; previous: Map<string, BackendLoad>; changed: boolean; factors?: number[]; full?: boolean[] }[] = [
  { name: 'first read of an unbalanced leastconn farm: re-planned', farm: farm('leastconn', [{}, {}]), counts: counts(10, 0), previous: new Map(), changed: true, factors: [1 / 11, 1] },
  { name: 'equal counts, equal factors: nothing to do', farm: farm('leastconn', [{}, {}]), counts: counts(5, 5), previous: loads([[5, 1, false], [5, 1, false]]), changed: false, factors: [1, 1] },
  { name: 'a small move (under the share step) keeps the factors applied', farm: farm('leastconn', [{}, {}]), counts: counts(100, 95), previous: loads([[100, 1, false], [100, 1, false]]), changed: false, factors: [1, 1] },
  { name: 'weight farms are never re-weighted', farm: farm('weight', [{}, {}]), counts: counts(100, 0), previous: new Map(), changed: false, factors: [1, 1] },
  { name: 'max_conns reached: full', farm: farm('weight', [{ max_conns: 10 }, {}]), counts: counts(10, 0), previous: new Map(), changed: true, full: [true, false] },
  { name: 'full stays full until at most 90% of the cap', farm: farm('weight', [{ max_conns: 10 }]), counts: counts(9), previous: loads([[10, 1, true]]), changed: true, full: [false] },
  { name: 'full at 10 of 10 with 10 read again: no change', farm: farm('weight', [{ max_conns: 10 }]), counts: counts(10), previous: loads([[10, 1, true]]), changed: false, full: [true] },
  { name: 'hysteresis: full at 10 keeps full at 10 > 9', farm: farm('weight', [{ max_conns: 20 }]), counts: counts(19), previous: loads([[20, 1, true]]), changed: false, full: [true] },
];

for (const c of CASES) {
  test(c.name, () => {
    const { loads: next, changed } = nextLoad(c.farm, c.counts, c.previous);
    assert.equal(changed, c.changed);
    if (c.factors) assert.deepEqual([...next.values()].map((l) => Number(l.factor.toFixed(4))), c.factors.map((f) => Number(f.toFixed(4))));
    if (c.full) assert.deepEqual([...next.values()].map((l) => l.full), c.full);
  });
}

test('counts are smoothed between reads, and a backend not read keeps its state', () => {
  const f = farm('leastconn', [{}, {}]);
  const first = nextLoad(f, counts(10, 0), new Map()).loads;
  const second = nextLoad(f, new Map([['b1', 0]]), first).loads;
  assert.equal(second.get('b1')!.smoothed, 5);
  assert.equal(second.get('b2')!.smoothed, 0);
});
