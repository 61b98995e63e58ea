// Shared settings for the property-based fuzz tests: a fixed seed and a bounded run count in the
// normal suite (so CI is repeatable and quick), FUZZ_RUNS / FUZZ_SEED for the long run
// (`npm run fuzz`), a per-run time bound, and a heap-growth check. fast-check prints the seed
// and the shrunk counterexample path of a failure, so FUZZ_SEED=<seed> reproduces it.

import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** The suite's seed: fixed, so a failure in CI is the same failure on a laptop. */
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 0x5eed14;
const LONG_RUNS = process.env.FUZZ_RUNS !== undefined ? Number(process.env.FUZZ_RUNS) : undefined;
if (LONG_RUNS !== undefined && !(Number.isInteger(LONG_RUNS) && LONG_RUNS > 0)) throw new Error(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);

/** Whether this is the long run (`npm run fuzz`). */
export const LONG = LONG_RUNS !== undefined;

/**
 * Runs of one property: `ciRuns` in the suite, FUZZ_RUNS in the long run. `longCap` bounds the long
 * run of a property whose single run is expensive (whole documents of megabytes, a Redis-backed
 * sync): its surface reaches FUZZ_RUNS through its cheaper properties, and this one still runs
 * far more often than in the suite, without turning the long run into hours.
 */
export function runs(ciRuns: number, longCap = Number.POSITIVE_INFINITY): number {
  return LONG_RUNS === undefined ? ciRuns : Math.min(LONG_RUNS, longCap);
}

/**
 * fast-check parameters. `timeoutMs` bounds each run of an async property (a run that takes
 * longer fails the property: a hang is a defect, not a slow pass).
 */
export function params<T>(ciRuns: number, timeoutMs?: number, longCap?: number): fc.Parameters<T> {
  return { numRuns: runs(ciRuns, longCap), seed: SEED, includeErrorInReport: true, ...(timeoutMs !== undefined ? { timeout: timeoutMs } : {}) };
}

/** node:test's bound on a whole property (many runs); the long run scales it with its count. */
export function testTimeout(ciMs: number, ciRuns: number, longCap?: number): number {
  return LONG_RUNS === undefined ? ciMs : Math.ceil(ciMs * (runs(ciRuns, longCap) / ciRuns)) + 60_000;
}

// gc() without --expose-gc on the command line: the suite runs with plain `node --test`.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap growth in bytes over `run`, measured after a full collection on each side. */
export async function heapGrowth(run: () => unknown): Promise<number> {
  gc();
  const before = process.memoryUsage().heapUsed;
  await run();
  gc();
  return process.memoryUsage().heapUsed - before;
}

/** A bound on heap growth over a whole property: anything kept per run would pass it quickly. */
export const HEAP_BOUND = 24 * 1024 * 1024;

/** Words the code treats specially, mixed into random text so the fuzzer reaches past the first check. */
export const PROTO_WORDS = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'prototype', 'valueOf'] as const;

/** Random text: mostly printable, some control characters and astral/unpaired surrogates. */
export const anyText = (maxLength = 200): fc.Arbitrary<string> => fc.oneof(
  fc.string({ maxLength }),
  fc.string({ unit: 'binary', maxLength }),
  fc.string({ unit: fc.constantFrom('\n', '\r', '\t', ' ', '"', '\\', '{', '}', '[', ']', ':', ',', '#', '\0', '\uD800', '\u2028'), maxLength }),
);

/** Byte buffers: random bytes, including invalid UTF-8. */
export const anyBytes = (maxLength = 512): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
