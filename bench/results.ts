// Shared by the benchmarks: percentiles, and one JSON file of results per benchmark under
// bench/results/, each stamped with the machine it ran on.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';
import { join } from 'node:path';
import { repoPath } from '../test/support/repo.js';

export const resultsDir = repoPath('bench', 'results');

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function summarize(samples: readonly number[]): { n: number; p50: number; p99: number; max: number; mean: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? NaN),
    mean: round(sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1)),
  };
}

export function recordResult(name: string, data: Record<string, unknown>): void {
  mkdirSync(resultsDir, { recursive: true });
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version };
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify({ benchmark: name, at: new Date().toISOString(), machine, ...data }, null, 2)}\n`);
}
