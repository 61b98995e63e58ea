// Unit tests for the chi-square helper against published table values and closed forms.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertShares, chiSquarePValue, chiSquareTest, gammaQ, logGamma } from './stats.js';

const close = (actual: number, expected: number, tol: number): void =>
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} not within ${tol} of ${expected}`);

describe('chiSquarePValue', () => {
  // Critical values from standard chi-square tables (rounded to 3 decimals there, hence 1e-4).
  const table: [number, number, number][] = [
    [3.841, 1, 0.05],
    [6.635, 1, 0.01],
    [10.828, 1, 0.001],
    [5.991, 2, 0.05],
    [9.21, 2, 0.01],
    [13.816, 2, 0.001],
    [7.815, 3, 0.05],
    [11.07, 5, 0.05],
    [18.307, 10, 0.05],
    [43.773, 30, 0.05],
  ];
  for (const [chi2, df, p] of table) {
    it(`chi2=${chi2}, df=${df} -> p≈${p}`, () => close(chiSquarePValue(chi2, df), p, 1e-4));
  }

  it('matches closed forms to 1e-10', () => {
    // df = 2: Q(1, x/2) = exp(-x/2) exactly.
    for (const x of [0.01, 0.5, 1, 2, 3, 7.5, 20, 60]) close(chiSquarePValue(x, 2), Math.exp(-x / 2), 1e-12);
    // df = 4: Q(2, y) = exp(-y) (1 + y), y = x/2.
    for (const x of [0.2, 1, 4, 9, 30]) close(chiSquarePValue(x, 4), Math.exp(-x / 2) * (1 + x / 2), 1e-12);
    // df = 1: p = erfc(sqrt(x/2)); erfc(1) = 0.157299207050285...
    close(chiSquarePValue(2, 1), 0.15729920705028513, 1e-10);
  });

  it('handles the edges', () => {
    assert.equal(chiSquarePValue(0, 3), 1);
    assert.equal(chiSquarePValue(Infinity, 3), 0);
    assert.throws(() => chiSquarePValue(1, 0), RangeError);
  });
});

describe('gammaQ / logGamma', () => {
  it('logGamma matches factorials', () => {
    close(logGamma(1), 0, 1e-13);
    close(logGamma(5), Math.log(24), 1e-13);
    close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-13);
    close(logGamma(101), 363.73937555556347, 1e-9);
  });
  it('is continuous across the series / continued-fraction switch at x = a + 1', () => {
    for (const a of [0.5, 1.5, 4, 12.5]) close(gammaQ(a, a + 1 - 1e-9), gammaQ(a, a + 1 + 1e-9), 1e-8);
  });
});

describe('chiSquareTest', () => {
  it('computes statistic, df and expected counts', () => {
    const r = chiSquareTest([30, 70], [1, 1]);
    assert.equal(r.statistic, 16);
    assert.equal(r.df, 1);
    assert.deepEqual(r.expected, [50, 50]);
    assert.ok(r.pValue < 1e-4);
  });
  it('treats observations in a zero-share category as impossible', () => {
    const r = chiSquareTest([50, 50, 1], [1, 1, 0]);
    assert.equal(r.pValue, 0);
    assert.equal(chiSquareTest([50, 50, 0], [1, 1, 0]).df, 1);
  });
  it('assertShares accepts a fair sample and rejects a skewed one', () => {
    assert.doesNotThrow(() => assertShares({ b1: 340, b2: 330, b3: 330 }, { b1: 1, b2: 1, b3: 1 }));
    assert.throws(() => assertShares({ b1: 500, b2: 250, b3: 250 }, { b1: 1, b2: 1, b3: 1 }), /do not fit/);
    assert.throws(() => assertShares({ b1: 3, b2: 2 }, { b1: 1, b2: 1 }), /too small/);
  });
});
