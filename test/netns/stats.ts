// Chi-square goodness-of-fit, to test observed backend counts against the shares the rules promise.
import { AssertionError } from 'node:assert';

const EPS = 1e-15;
const FPMIN = 1e-300;
const MAX_ITER = 10_000;

// Lanczos approximation (g = 7, n = 9): ~1e-15 relative accuracy for a > 0.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

export function logGamma(a: number): number {
  if (!(a > 0)) throw new RangeError(`logGamma needs a > 0, got ${a}`);
  if (a < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * a)) - logGamma(1 - a);
  const x = a - 1;
  let sum = LANCZOS[0] ?? 0;
  for (let i = 1; i < LANCZOS.length; i++) sum += (LANCZOS[i] ?? 0) / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** P(a, x) by its power series; converges fast for x < a + 1. */
function gammaPSeries(a: number, x: number): number {
  let ap = a;
  let del = 1 / a;
  let sum = del;
  for (let n = 0; n < MAX_ITER; n++) {
    ap += 1;
    del *= x / ap;
    sum += del;
    if (Math.abs(del) < Math.abs(sum) * EPS) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** Q(a, x) by its continued fraction (modified Lentz); converges fast for x >= a + 1. */
function gammaQFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / FPMIN;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITER; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = b + an / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** Regularized upper incomplete gamma Q(a, x) = Γ(a, x) / Γ(a). */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`gammaQ needs a > 0 and x >= 0, got a=${a} x=${x}`);
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaPSeries(a, x) : gammaQFraction(a, x);
}

/** P(X >= statistic) for X ~ chi-square with `df` degrees of freedom. */
export function chiSquarePValue(statistic: number, df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`df must be a positive integer, got ${df}`);
  if (statistic === Infinity) return 0;
  return gammaQ(df / 2, Math.max(0, statistic) / 2);
}

export interface ChiSquareResult {
  statistic: number;
  df: number;
  pValue: number;
  /** Expected counts, same order as the input. */
  expected: number[];
}

/**
 * Goodness of fit of `observed` counts to `shares` (any non-negative weights; normalized here).
 * A category with share 0 but observations makes the fit impossible (statistic Infinity, p 0).
 */
export function chiSquareTest(observed: readonly number[], shares: readonly number[]): ChiSquareResult {
  if (observed.length !== shares.length) throw new RangeError(`${observed.length} counts but ${shares.length} shares`);
  const total = observed.reduce((s, n) => s + n, 0);
  const weight = shares.reduce((s, w) => s + w, 0);
  if (shares.some((w) => !(w >= 0)) || !(weight > 0)) throw new RangeError(`shares must be >= 0 with a positive sum`);
  const expected = shares.map((w) => (total * w) / weight);
  let statistic = 0;
  let categories = 0;
  expected.forEach((e, i) => {
    const o = observed[i] ?? 0;
    if (e === 0) {
      if (o > 0) statistic = Infinity;
      return;
    }
    categories++;
    statistic += (o - e) ** 2 / e;
  });
  const df = categories - 1;
  // One possible category: the fit is exact unless something landed in a zero-share category.
  const pValue = df < 1 ? (statistic === Infinity ? 0 : 1) : chiSquarePValue(statistic, df);
  return { statistic, df, pValue, expected };
}

/** Keyed form: counts per backend name against shares per backend name (missing counts are 0). */
export function chiSquareFit(counts: Readonly<Record<string, number>>, shares: Readonly<Record<string, number>>): ChiSquareResult & { keys: string[] } {
  const keys = [...new Set([...Object.keys(shares), ...Object.keys(counts)])].sort();
  const result = chiSquareTest(
    keys.map((k) => counts[k] ?? 0),
    keys.map((k) => shares[k] ?? 0),
  );
  return { ...result, keys };
}

/**
 * Asserts counts are consistent with shares at significance `alpha` (default 0.001, so a correct
 * balancer fails a test about once in a thousand runs). Refuses samples too small for the test.
 */
export function assertShares(
  counts: Readonly<Record<string, number>>,
  shares: Readonly<Record<string, number>>,
  opts: { alpha?: number; minExpected?: number } = {},
): ChiSquareResult {
  const alpha = opts.alpha ?? 0.001;
  const minExpected = opts.minExpected ?? 5;
  const r = chiSquareFit(counts, shares);
  const table = r.keys.map((k, i) => `${k}: observed ${counts[k] ?? 0}, expected ${(r.expected[i] ?? 0).toFixed(1)}`).join('; ');
  const small = r.expected.filter((e) => e > 0 && e < minExpected);
  if (small.length > 0) throw new Error(`sample too small for chi-square (expected count < ${minExpected}): ${table}`);
  if (r.pValue < alpha) {
    throw new AssertionError({
      message: `counts do not fit shares (chi2=${r.statistic.toFixed(3)}, df=${r.df}, p=${r.pValue.toExponential(3)} < ${alpha}): ${table}`,
      actual: counts,
      expected: shares,
      operator: 'chiSquareFit',
    });
  }
  return r;
}
