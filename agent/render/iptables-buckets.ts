// The iptables step from a hash bucket to its backend's mark (hash-srcip, hash-5tuple): HMARK
// leaves offset + bucket in the packet's mark, these rules turn it into the bucket's backend mark.
// For dsr and tunnel (NOTRACK) every packet of a flow walks them, so their cost is per packet.
// Pure.
//
// Why a two-level split by the bucket's bits: a flat list of one rule per bucket walks all of them
// (MARK does not end the chain), 1021 compares per packet. Here the farm's MARK chain holds at most
// 32 rules over the bucket's high bits, each a goto into a sub-chain of its 32 buckets, so a packet
// walks about 16 compares there and the whole of one sub-chain (at most 32). In each block a
// prefix-aligned run of buckets with one backend is one `--mark value/mask` rule (buckets past the
// table, which HMARK never writes, count as any backend), and the backend needing the most such
// rules gets none: one last rule over the whole block takes what the earlier rules did not re-mark.
// With 3 backends that is about 31 compares per packet (at most 46) and ~490 rules + 32 chains a
// farm: fewer rules than the flat list, so many farms restore no slower. A binary split by mark
// bits would walk ~15 compares but needs a chain per tree node (~1000 a farm, 100 000 at 100
// farms); three levels (4 x 16 x 16) ~27 compares for 68 chains a farm: not worth twice the chains.

import { formatMark } from '../plan/marks.js';
import { CHAINS, type Chain } from './ruleset.js';

/** Sub-chains of a farm at most: the index is one base-32 character of the chain's name. */
export const BUCKET_CHAINS = 32;
/** Buckets per sub-chain at least (32 for the 1024 marks of Maglev's 1021 buckets). */
const LEAF_BUCKETS = 32;

export interface BucketTarget {
  readonly mark: number;
  /** Written on the rule, e.g. `-m comment --comment FARM_web_0_`. */
  readonly comment: string;
}

export interface BucketDispatch {
  /** The rules of the farm's MARK chain after its HMARK rule. */
  readonly rules: readonly string[];
  /** The sub-chains (mangle) those rules go to. */
  readonly chains: readonly Chain[];
}

/**
 * owners[bucket] indexes targets. `last`: nothing follows in the MARK chain, so the top level may
 * go to (-g) a sub-chain and end there; otherwise it jumps (-j) and walks its remaining rules.
 */
export function bucketDispatch(farm: string, owners: readonly number[], targets: readonly BucketTarget[], offset: number, last: boolean): BucketDispatch {
  const count = owners.length;
  if (count === 0) return { rules: [], chains: [] };
  let space = 1;
  while (space < count) space *= 2;
  const leaf = Math.max(LEAF_BUCKETS, space / BUCKET_CHAINS);

  /** Which of the block's buckets inside the table `owner` has: all, none, or some. */
  const share = (base: number, size: number, owner: number): 'all' | 'none' | 'some' => {
    let mine = 0;
    let inside = 0;
    for (let k = base; k < Math.min(base + size, count); k++, inside++) if (owners[k] === owner) mine++;
    return mine === inside ? 'all' : mine === 0 ? 'none' : 'some';
  };
  const markMatch = (base: number, size: number): string =>
    `-m mark --mark ${formatMark(offset + base)}${size === 1 ? '' : `/${formatMark(~(size - 1))}`}`;
  const setRule = (base: number, size: number, owner: number): string => {
    const t = targets[owner]!;
    return `${markMatch(base, size)} ${t.comment} -j MARK --set-xmark ${formatMark(t.mark)}/0xffffffff`;
  };
  /** The aligned blocks holding exactly `owner`'s buckets, largest first. */
  const blocksOf = (base: number, size: number, owner: number, out: { base: number; rule: string }[]): void => {
    if (base >= count) return;
    const s = share(base, size, owner);
    if (s === 'all') out.push({ base, rule: setRule(base, size, owner) });
    else if (s === 'some') {
      blocksOf(base, size / 2, owner, out);
      blocksOf(base + size / 2, size / 2, owner, out);
    }
  };
  /** A block's rules: every owner's blocks but the one needing most, which one last rule over the
   * whole block catches (the earlier rules have changed their packets' marks by then). */
  const cover = (base: number, size: number): string[] => {
    const present = [...new Set(owners.slice(base, Math.min(base + size, count)))].sort((a, b) => a - b);
    const blocks = present.map((owner) => {
      const out: { base: number; rule: string }[] = [];
      blocksOf(base, size, owner, out);
      return out;
    });
    let fallback = 0;
    blocks.forEach((b, i) => { if (b.length > blocks[fallback]!.length) fallback = i; });
    const rules = blocks.filter((_, i) => i !== fallback).flat().sort((a, b) => a.base - b.base).map((b) => b.rule);
    return [...rules, setRule(base, size, present[fallback]!)];
  };
  const uniform = (base: number, size: number): number | undefined => {
    const first = owners[base]!;
    return share(base, size, first) === 'all' ? first : undefined;
  };

  if (space <= leaf) return { rules: cover(0, space), chains: [] };
  const rules: string[] = [];
  const chains: Chain[] = [];
  const top = (base: number, size: number): void => {
    if (base >= count) return;
    const owner = uniform(base, size);
    if (owner !== undefined) rules.push(setRule(base, size, owner));
    else if (size > leaf) {
      top(base, size / 2);
      top(base + size / 2, size / 2);
    } else {
      const name = CHAINS.farmBuckets(farm, base / leaf);
      chains.push({ table: 'mangle', name, kind: 'ordered', rules: cover(base, size) });
      rules.push(`${markMatch(base, size)} ${last ? '-g' : '-j'} ${name}`);
    }
  };
  top(0, space);
  return { rules, chains };
}
