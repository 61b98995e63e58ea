// Paths into the source tree from compiled tests (dist/test/... -> repo root), and golden files.

import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

/** The repository root: dist/test/support/repo.js is three levels below it. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const repoPath = (...parts: string[]): string => join(repoRoot, ...parts);

/** Compares text with a golden file; UPDATE_GOLDEN=1 rewrites the file instead. */
export function assertGolden(relativePath: string, actual: string): void {
  const path = repoPath(relativePath);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path) && process.env.CI !== 'true') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  assert.equal(actual, readFileSync(path, 'utf8'), `${relativePath} differs from the rendered text (UPDATE_GOLDEN=1 rewrites it)`);
}

/** A small deterministic PRNG (mulberry32) so property tests can be replayed from their seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
