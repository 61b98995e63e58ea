// Slow start as a table: factor and next step time at points of the ramp.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { slowstartWeight } from '../../checks/slowstart.js';

describe('slowstartWeight', () => {
  // Came up at t=1000 with a 10 s slow start in 10 steps.
  const table: Array<[string, number, number, number | null]> = [
    ['the moment it comes up: the first step', 1000, 0.1, 2000],
    ['inside the first step', 1999, 0.1, 2000],
    ['at a step boundary', 2000, 0.2, 3000],
    ['half way', 6000, 0.6, 7000],
    ['the last step is full weight', 10_500, 1, null],
    ['at the end', 11_000, 1, null],
    ['long after', 1e9, 1, null],
    ['a clock that went backwards: the first step', 500, 0.1, 2000],
  ];
  for (const [name, now, factor, next] of table) {
    it(name, () => assert.deepEqual(slowstartWeight(1000, 10_000, now), { factor, nextStepAt: next }));
  }

  it('is full weight with no slow start', () => {
    assert.deepEqual(slowstartWeight(1000, undefined, 1000), { factor: 1, nextStepAt: null });
    assert.deepEqual(slowstartWeight(1000, 0, 1000), { factor: 1, nextStepAt: null });
  });

  it('takes the number of steps, and rounds step times up to whole ms', () => {
    assert.deepEqual(slowstartWeight(0, 1000, 0, 3), { factor: 1 / 3, nextStepAt: 334 });
    assert.deepEqual(slowstartWeight(0, 1000, 334, 3), { factor: 2 / 3, nextStepAt: 667 });
    assert.deepEqual(slowstartWeight(0, 1000, 667, 3), { factor: 1, nextStepAt: null });
    assert.deepEqual(slowstartWeight(0, 1000, 0, 1), { factor: 1, nextStepAt: null });
  });

  it('is always in (0, 1] and never decreases; each nextStepAt moves to a new factor', () => {
    let last = 0;
    for (let now = 0; now <= 12_000; now += 37) {
      const { factor, nextStepAt } = slowstartWeight(0, 10_000, now);
      assert.ok(factor > 0 && factor <= 1 && factor >= last);
      last = factor;
      if (nextStepAt !== null) {
        assert.ok(nextStepAt > now);
        assert.ok(slowstartWeight(0, 10_000, nextStepAt).factor > factor);
        assert.equal(slowstartWeight(0, 10_000, nextStepAt - 1).factor, factor);
      }
    }
  });
});
