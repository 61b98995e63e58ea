// Which interval applies: interval, fastinter between states, downinter while down.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HealthState } from '../../checks/hysteresis.js';
import { probeInterval } from '../../checks/interval.js';

describe('probeInterval', () => {
  const all = { interval: 2000, fastinter: 200, downinter: 10_000 };
  const plain = { interval: 2000 };
  const table: Array<[string, HealthState, number, number]> = [
    ['steady up', { health: 'up', consecutiveOk: 3, consecutiveFail: 0 }, 2000, 2000],
    ['up with a failure', { health: 'up', consecutiveOk: 0, consecutiveFail: 1 }, 200, 2000],
    ['steady down', { health: 'down', consecutiveOk: 0, consecutiveFail: 7 }, 10_000, 2000],
    ['down with a success', { health: 'down', consecutiveOk: 1, consecutiveFail: 0 }, 200, 2000],
    ['never probed', { health: 'unknown', consecutiveOk: 0, consecutiveFail: 0 }, 2000, 2000],
    ['unknown, deciding', { health: 'unknown', consecutiveOk: 0, consecutiveFail: 1 }, 200, 2000],
  ];
  for (const [name, state, want, wantPlain] of table) {
    it(name, () => {
      assert.equal(probeInterval(all, state), want);
      assert.equal(probeInterval(plain, state), wantPlain);
    });
  }
});
