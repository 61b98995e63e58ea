// Writes bench/RESULTS.md from the JSON files in bench/results/, so the README can link one
// readable page with the latest figures and the machine they came from.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resultsDir } from './results.js';

const files = readdirSync(resultsDir).filter((f) => f.endsWith('.json')).sort();
const lines = ['# Benchmark results', '', 'Written by `npm run bench` (bench/summary.ts) from `bench/results/*.json`; rerun to refresh.', ''];
for (const file of files) {
  const data = JSON.parse(readFileSync(join(resultsDir, file), 'utf8')) as { benchmark: string; at: string; machine: Record<string, unknown> };
  lines.push(`## ${data.benchmark}`, '', `Run ${data.at} on ${JSON.stringify(data.machine)}.`, '', '```json', JSON.stringify({ ...data, machine: undefined, at: undefined, benchmark: undefined }, null, 2), '```', '');
}
writeFileSync(join(resultsDir, '..', 'RESULTS.md'), `${lines.join('\n')}\n`);
process.stdout.write(`bench/RESULTS.md: ${files.length} benchmarks\n`);
