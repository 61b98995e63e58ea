// The over-limit metrics: read at scrape time from one shared, briefly cached reading, valid
// exposition text, totals that survive the kernel's counter restarting, and a failed read that
// keeps the last values.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { LimitCounts } from '../../agent/apply/limit-counters.js';
import { BACKEND_FULL, CarriedTotals, FARM_LIMITED, registerLimitMetrics } from '../../agent/metrics/kernel-counters.js';
import { parsePrometheusText, valueOf } from './prom-text.js';

const counts = (rate: number, full: number): LimitCounts => ({
  farms: [{ farm: 'web', limit: 'new_per_second', action: 'drop', refused: rate }],
  backends: [{ farm: 'web', backend: 'b1', refused: full }],
});

function setup(read: () => Promise<LimitCounts>) {
  let now = 0;
  let reads = 0;
  const warnings: string[] = [];
  const registry = new Registry();
  registerLimitMetrics(registry, {
    read: () => { reads++; return read(); }, now: () => now, cacheMs: 1000,
    logger: { warn: (_obj: unknown, msg?: string) => void warnings.push(String(msg)), info: () => undefined } as never,
  });
  return {
    registry, warnings,
    reads: () => reads,
    advance: (ms: number) => { now += ms; },
    scrape: async () => parsePrometheusText(await registry.metrics()),
  };
}

describe('over-limit metrics', () => {
  it('both metrics from one read per scrape, cached between scrapes close together', async () => {
    let kernel = counts(5, 2);
    const m = setup(async () => kernel);
    const first = await m.scrape();
    assert.equal(m.reads(), 1);
    assert.equal(first.get(FARM_LIMITED)!.type, 'counter');
    assert.equal(valueOf(first, FARM_LIMITED, { farm: 'web', limit: 'new_per_second', action: 'drop' }), 5);
    assert.equal(valueOf(first, BACKEND_FULL, { farm: 'web', backend: 'b1' }), 2);
    kernel = counts(9, 2);
    m.advance(500);
    assert.equal(valueOf(await m.scrape(), FARM_LIMITED, { farm: 'web', limit: 'new_per_second', action: 'drop' }), 5);
    assert.equal(m.reads(), 1);
    m.advance(600);
    assert.equal(valueOf(await m.scrape(), FARM_LIMITED, { farm: 'web', limit: 'new_per_second', action: 'drop' }), 9);
    assert.equal(m.reads(), 2);
  });

  it('a rule rewritten restarts the kernel counter at zero; the metric keeps counting up', async () => {
    let kernel = counts(40, 3);
    const m = setup(async () => kernel);
    await m.scrape();
    kernel = counts(4, 3);
    m.advance(2000);
    const after = await m.scrape();
    assert.equal(valueOf(after, FARM_LIMITED, { farm: 'web', limit: 'new_per_second', action: 'drop' }), 44);
    assert.equal(valueOf(after, BACKEND_FULL, { farm: 'web', backend: 'b1' }), 3);
  });

  it('a failed read keeps the last values and warns once; a removed farm loses its series', async () => {
    let fail = false;
    let kernel = counts(7, 1);
    const m = setup(async () => {
      if (fail) throw new Error('nft exited 1');
      return kernel;
    });
    await m.scrape();
    fail = true;
    for (let i = 0; i < 3; i++) {
      m.advance(2000);
      assert.equal(valueOf(await m.scrape(), FARM_LIMITED, { farm: 'web', limit: 'new_per_second', action: 'drop' }), 7);
    }
    assert.equal(m.warnings.length, 1);
    fail = false;
    kernel = { farms: [], backends: [] };
    m.advance(2000);
    const gone = await m.scrape();
    assert.deepEqual(gone.get(FARM_LIMITED)!.samples, []);
    assert.deepEqual(gone.get(BACKEND_FULL)!.samples, []);
  });

  it('CarriedTotals: only decreases add a base; a series read again after going starts afresh', () => {
    const t = new CarriedTotals();
    assert.deepEqual([...t.advance(new Map([['a', 3]]))], [['a', 3]]);
    assert.deepEqual([...t.advance(new Map([['a', 3]]))], [['a', 3]]);
    assert.deepEqual([...t.advance(new Map([['a', 1]]))], [['a', 4]]);
    assert.deepEqual([...t.advance(new Map([['a', 0]]))], [['a', 4]]);
    assert.deepEqual([...t.advance(new Map([['a', 2]]))], [['a', 6]]);
    t.advance(new Map());
    assert.deepEqual([...t.advance(new Map([['a', 1]]))], [['a', 1]]);
  });
});
