// Bucket movement of the hash-5tuple table (agent/plan/maglev.ts) when a backend is removed or
// added, for N = 3, 10 and 100 backends, at this agent's table size and at the paper's 65537.
// A simulation over the real table code: no kernel, no root. Movement is what breaks
// established flows in dsr/tunnel mode, so it is compared with the ideal 1/N.
//
// Maglev (Eisenbud et al., NSDI '16) publishes, for its own table: M > 100 N keeps the hash
// space given to backends within 1 % (§3.4), and a rebuild after backends fail moves slightly
// more than the failed backends' share (§5.3, figure on resilience), which a larger M reduces.
// "rebuild" below is that plain Maglev rebuild; "agent" is what the agent does on a failure
// (failed backends' buckets refilled from a table of the usable ones, nothing else moves).

import { consistentOwners, maglevTable, movedBuckets, MAGLEV_BUCKETS, type MaglevEntry } from '../agent/plan/maglev.js';
import { recordResult, summarize } from './results.js';

const SIZES = [MAGLEV_BUCKETS, 65537];
const COUNTS = [3, 10, 100];
const TRIALS = 10;

const backends = (n: number, from = 0): MaglevEntry[] => Array.from({ length: n }, (_, i) => ({ key: `b${from + i}`, weight: 1 }));
const keyed = (table: readonly number[], entries: readonly MaglevEntry[]): string[] => table.map((i) => entries[i]!.key);
const pct = (x: number): number => Math.round(x * 10000) / 100;

function imbalance(table: readonly number[], n: number): number {
  const c = new Array<number>(n).fill(0);
  for (const o of table) c[o]! += 1;
  return Math.round((Math.max(...c) / (table.length / n)) * 1000) / 1000;
}

const results: Record<string, unknown> = {};
for (const size of SIZES) {
  for (const n of COUNTS) {
    const removeRebuild: number[] = [];
    const removeAgent: number[] = [];
    const add: number[] = [];
    const imbalances: number[] = [];
    for (let t = 0; t < TRIALS; t++) {
      // Each trial names its backends afresh, so the figures are over different permutations.
      const home = backends(n, t * 1000);
      const all = home.map((_, i) => i);
      const before = keyed(maglevTable(home, size), home);
      imbalances.push(imbalance(maglevTable(home, size), n));
      const gone = (t * 7) % n;
      const rest = home.filter((_, i) => i !== gone);
      removeRebuild.push(movedBuckets(before, keyed(maglevTable(rest, size), rest)) / size);
      removeAgent.push(movedBuckets(before, keyed(consistentOwners(home, all.filter((i) => i !== gone), size), home)) / size);
      const grown = [...home, { key: `b${t * 1000 + n}`, weight: 1 }];
      add.push(movedBuckets(before, keyed(maglevTable(grown, size), grown)) / size);
    }
    results[`B=${size} N=${n}`] = {
      ideal_remove_pct: pct(1 / n),
      remove_rebuild_pct: summarize(removeRebuild.map(pct)),
      remove_agent_pct: summarize(removeAgent.map(pct)),
      ideal_add_pct: pct(1 / (n + 1)),
      add_pct: summarize(add.map(pct)),
      max_over_mean_buckets: summarize(imbalances),
    };
  }
}

recordResult('maglev', {
  trials: TRIALS,
  note: 'percent of buckets moved (flows broken in dsr/tunnel); agent table size is the first B',
  maglev_published: 'M > 100 N keeps backends within 1 % of their share (NSDI 16, 3.4); rebuild moves a little more than the failed share, less with larger M (5.3)',
  results,
});
for (const [k, v] of Object.entries(results)) process.stdout.write(`${k}: ${JSON.stringify(v)}\n`);
