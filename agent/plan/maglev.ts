// The hash-5tuple lookup table: Maglev's permutation method (Eisenbud et al., NSDI '16, §3.4),
// weighted. Every LB with the same farm config and the same health view builds the same table,
// so a flow keeps its backend whichever LB the routers' ECMP hands it to. Pure.
//
// Two tables, as hash-srcip does with its buckets: the home table is built from every backend of
// the serving priority group, healthy or not, and only the buckets whose home backend is not
// usable are filled from a second table of the usable ones. So a backend that goes down moves
// exactly its own buckets and gets exactly them back when it returns; adding a backend to the
// config rebuilds the home table, where Maglev moves about B/N buckets.

import { fnv1a } from './marks.js';

/**
 * Buckets per farm: a prime (the permutation needs skip coprime with the size). Maglev asks for
 * more than 100 per backend for a 1 % spread; 1021 meets that up to 10 backends and keeps the
 * iptables bucket dispatch (one rule per bucket) as long as hash-srcip's.
 */
export const MAGLEV_BUCKETS = 1021;

export interface MaglevEntry {
  /** Stable identity: the backend's name, so config order and address changes move nothing. */
  readonly key: string;
  /** Positive integer weight. */
  readonly weight: number;
}

function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** The permutation of one entry: its first preferred bucket and the stride to the next. */
function permutation(key: string, size: number, seed: string): { offset: number; skip: number } {
  return { offset: fnv1a(`${seed}/offset/${key}`) % size, skip: (fnv1a(`${seed}/skip/${key}`) % (size - 1)) + 1 };
}

/**
 * Maglev population: entries take turns claiming their next preferred free bucket until the
 * table is full. Weighted by turns: in round r an entry of weight w takes a turn when
 * floor((r + 1) w / max) > floor(r w / max), so the heaviest takes one every round and the
 * others in proportion. Entries are visited in key order, so the table does not depend on the
 * order of the config. Returns the index into `entries` owning each bucket; [] without entries.
 */
export function maglevTable(entries: readonly MaglevEntry[], size: number = MAGLEV_BUCKETS, seed = 'ha-agent'): number[] {
  if (!isPrime(size)) throw new Error(`maglev table size ${size} is not a prime`);
  if (entries.length === 0) return [];
  for (const e of entries) {
    if (!Number.isInteger(e.weight) || e.weight < 1) throw new Error(`maglev weight of ${e.key} is ${e.weight}, not a positive integer`);
  }
  const order = entries.map((_, i) => i).sort((a, b) => (entries[a]!.key < entries[b]!.key ? -1 : entries[a]!.key > entries[b]!.key ? 1 : a - b));
  const perms = order.map((i) => permutation(entries[i]!.key, size, seed));
  const next = order.map(() => 0);
  const maxWeight = Math.max(...entries.map((e) => e.weight));
  const table = new Array<number>(size).fill(-1);
  let filled = 0;
  for (let round = 0; filled < size; round++) {
    for (let k = 0; k < order.length && filled < size; k++) {
      const w = entries[order[k]!]!.weight;
      if (Math.floor(((round + 1) * w) / maxWeight) === Math.floor((round * w) / maxWeight)) continue;
      const { offset, skip } = perms[k]!;
      let bucket: number;
      do {
        bucket = (offset + next[k]! * skip) % size;
        next[k]! += 1;
      } while (table[bucket] !== -1);
      table[bucket] = order[k]!;
      filled++;
    }
  }
  return table;
}

/**
 * The owner of each bucket for a farm: `home` are the backends of the serving priority group
 * (usable or not), `usable` a subset of them (indexes into `home`). A bucket whose home owner is
 * usable keeps it; the others go to the owner in a table of the usable ones. Returns indexes
 * into `home`; [] when nothing is usable.
 */
export function consistentOwners(home: readonly MaglevEntry[], usable: readonly number[], size: number = MAGLEV_BUCKETS, seed = 'ha-agent'): number[] {
  if (usable.length === 0) return [];
  const homeTable = maglevTable(home, size, seed);
  const up = new Set(usable);
  if (usable.length === home.length) return homeTable;
  const fallback = maglevTable(usable.map((i) => home[i]!), size, seed);
  return homeTable.map((owner, bucket) => (up.has(owner) ? owner : usable[fallback[bucket]!]!));
}

/** Buckets whose owner (by key) differs between two tables of the same size. */
export function movedBuckets(before: readonly string[], after: readonly string[]): number {
  if (before.length !== after.length) throw new Error(`tables of ${before.length} and ${after.length} buckets do not compare`);
  let moved = 0;
  for (let b = 0; b < before.length; b++) if (before[b] !== after[b]) moved++;
  return moved;
}

/**
 * hash-5tuple owners for a planned farm, as indexes into its chain (as hash-srcip's buckets
 * are). The home table holds every backend of the chain's priority group, usable or not.
 */
export function farmBuckets(
  backends: readonly { readonly name: string; readonly weight: number; readonly priority: number }[],
  chain: readonly number[],
  seed: string,
): number[] {
  if (chain.length === 0) return [];
  const priority = backends[chain[0]!]!.priority;
  const home = backends.map((b, i) => ({ b, i })).filter(({ b }) => b.priority === priority);
  const position = new Map(chain.map((configIndex, k) => [configIndex, k]));
  const usable = home.flatMap(({ i }, h) => (position.has(i) ? [h] : []));
  return consistentOwners(home.map(({ b }) => ({ key: b.name, weight: b.weight })), usable, MAGLEV_BUCKETS, seed)
    .map((h) => position.get(home[h]!.i)!);
}
