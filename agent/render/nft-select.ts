// How a farm chain chooses a backend for a new connection (weight, roundrobin, hash-srcip,
// persistence) and the masked mark writes it uses. Pure.

import { formatMark } from '../plan/marks.js';
import type { PlannedBackend, PlannedFarm } from '../plan/plan.js';
import { slotCounts } from '../plan/shares.js';
import { backendLabel, persistenceSeconds } from './common.js';
import { NFT_NAMES, type NftRule } from './nft-model.js';
import { jhashFiveTuple } from './hash-5tuple.js';

/** Weight shares are rounded onto at most this many numgen slots (shares.ts MAX_SLOTS). */
const WEIGHT_SCALE = 1000;

export const maskedMark = (what: 'meta mark' | 'ct mark', mask: number): string => (mask >>> 0 === 0xffffffff ? what : `${what} and ${formatMark(mask)}`);

/** nft 1.0.6 only takes constants on the right of `and`/`or`, so a masked write names its mark. */
export function setMark(what: 'meta mark' | 'ct mark', mark: number, mask: number): string {
  return mask >>> 0 === 0xffffffff ? `${what} set ${formatMark(mark)}` : `${what} set ${what} and ${formatMark(~mask)} or ${formatMark(mark & mask)}`;
}

export const goto = (chain: string): string => `goto ${chain}`;

/** Farms that choose by weight rules inline (no per-backend chains). */
export const byWeight = (farm: PlannedFarm): boolean => farm.algorithm === 'weight' || farm.algorithm === 'leastconn';

/** The client's address in the farm's family: what persistence and hash-srcip key on. */
export const saddr = (farm: PlannedFarm): string => (farm.family === 'ipv6' ? 'ip6 saddr' : 'ip saddr');

/** [from, to, owner] runs of equal owners, so a vmap lists ranges instead of every slot. */
function runs(owners: readonly number[]): [number, number, number][] {
  const out: [number, number, number][] = [];
  owners.forEach((owner, slot) => {
    const last = out[out.length - 1];
    if (last && last[2] === owner && last[1] === slot - 1) last[1] = slot;
    else out.push([slot, slot, owner]);
  });
  return out;
}

function vmap(source: string, owners: readonly number[], farm: PlannedFarm): string {
  const entries = runs(owners).map(([a, b, owner]) => `${a === b ? a : `${a}-${b}`} : ${goto(NFT_NAMES.mark(farm.name, farm.chain[owner]!.mark))}`);
  return `${source} vmap { ${entries.join(', ')} }`;
}

/**
 * What choosing a backend for a new connection does: its mark into conntrack (under the mask),
 * a count, the client remembered. The packet's own mark is then set by the farm's restore chain.
 * No statement here has a kernel `validate` hook: a transaction that rewrites only such rules
 * commits without the kernel walking every chain reachable from the table's base chains.
 */
export function chooseStatements(farm: PlannedFarm, b: PlannedBackend, mask: number): string {
  const parts = [setMark('ct mark', b.mark, mask), 'counter'];
  if (farm.persistenceTtlMs !== undefined && b.inChain) parts.push(`update @${NFT_NAMES.persist(farm.name, b.mark)} { ${saddr(farm)} timeout ${persistenceSeconds(farm)}s }`);
  return parts.join(' ');
}

/** True until a rule of the farm chain chose: marks lie in the mask and are never 0 there. */
const unchosen = (mask: number): string => `${maskedMark('ct mark', mask)} == 0`;

/**
 * Weight: one rule per backend, each taking its slots of the slots left, so backend i is chosen
 * with probability s_i / total exactly; a rule that chose makes the later ones fail (rather than
 * `return`, a verdict, which has a validate hook). Inline rather than a vmap to per-backend chains:
 * every chain and anonymous set is one more object `nft` lists on each update.
 */
function weightRules(farm: PlannedFarm, mask: number): NftRule[] {
  const weights = farm.chain.map((b) => b.effectiveWeight);
  const slots = slotCounts(weights.map((w) => Math.round(w * WEIGHT_SCALE)));
  const total = slots.reduce((a, b) => a + b, 0);
  const sum = weights.reduce((a, b) => a + b, 0);
  const error = Math.max(...slots.map((s, i) => Math.abs(s / total - weights[i]! / sum)));
  const exactness = error < 1e-9 ? 'the exact weight shares' : `the weight shares to within ${(error * 100).toFixed(3)} points`;
  let left = total;
  return farm.chain.map((b, i) => {
    const draw = i === farm.chain.length - 1 ? '' : `numgen random mod ${left} < ${slots[i]!} `;
    left -= slots[i]!;
    return {
      text: `${unchosen(mask)} ${draw}${chooseStatements(farm, b, mask)}`,
      comment: backendLabel(farm, b),
      ...(i === 0 ? { note: `weight: slots ${slots.join(':')} of ${total} give ${exactness}; each rule takes its slots of those left (numgen random is uniform to within 2^-32)` } : {}),
    };
  });
}

export function selectRules(farm: PlannedFarm, mask: number): NftRule[] {
  // Counts new connections of the farm (the rule that also carries the digest); clears a mark a
  // related connection may have inherited, so `unchosen` holds until a rule chooses.
  const clear = mask >>> 0 === 0xffffffff ? 'ct mark set 0x0' : `ct mark set ct mark and ${formatMark(~mask)}`;
  const rules: NftRule[] = [{ text: `counter ${clear}`, comment: `FARM_${farm.name}` }];
  if (farm.helper !== undefined) {
    rules.push({ text: `ct helper set "${NFT_NAMES.helper(farm.name)}"`, note: `the ${farm.helper} helper, attached to this farm's connections only (never the kernel's automatic helper assignment)` });
  }
  if (farm.chain.length === 0) return rules;
  const viaChains = !byWeight(farm) && farm.chain.length > 1;
  if (farm.persistenceTtlMs !== undefined) {
    farm.chain.forEach((b, i) => rules.push({
      text: viaChains ? `${saddr(farm)} @${NFT_NAMES.persist(farm.name, b.mark)} ${goto(NFT_NAMES.mark(farm.name, b.mark))}`
        : `${unchosen(mask)} ${saddr(farm)} @${NFT_NAMES.persist(farm.name, b.mark)} ${chooseStatements(farm, b, mask)}`,
      comment: backendLabel(farm, b),
      ...(i === 0 ? { note: `persistence: a client seen in the last ${persistenceSeconds(farm)}s keeps its backend (one set per backend in the chain)` } : {}),
    }));
  }
  if (farm.chain.length === 1) {
    rules.push({ text: `${unchosen(mask)} ${chooseStatements(farm, farm.chain[0]!, mask)}`, comment: backendLabel(farm, farm.chain[0]!), note: 'one backend in the chain: every new connection' });
    return rules;
  }
  switch (farm.algorithm) {
    // leastconn: weight rules whose weights the connection counts scale (agent/leastconn).
    case 'weight':
    case 'leastconn':
      rules.push(...weightRules(farm, mask));
      break;
    case 'roundrobin': {
      // One numgen per connection (each evaluation counts), so a vmap to per-backend chains.
      const { sequence } = farm;
      rules.push({ text: vmap(`numgen inc mod ${sequence.length}`, sequence, farm), note: `roundrobin: a cycle of ${sequence.length} new connections in smooth weighted order` });
      break;
    }
    case 'hash-srcip':
      rules.push({
        text: vmap(`jhash ${saddr(farm)} mod ${farm.buckets.length} seed ${formatMark(farm.hashSeed)}`, farm.buckets, farm),
        note: `hash-srcip: ${farm.buckets.length} buckets; a failed backend's buckets move, the others stay`,
      });
      break;
    // hash-5tuple (hash-5tuple.ts): the 5-tuple into Maglev's buckets, the same on every LB.
    case 'hash-5tuple':
      rules.push({
        text: vmap(jhashFiveTuple(farm), farm.buckets, farm),
        note: `hash-5tuple: ${farm.buckets.length} Maglev buckets; a failed backend's buckets move, the others stay`,
      });
      break;
    default: {
      const never: never = farm.algorithm;
      throw new Error(`unknown algorithm ${String(never)}`);
    }
  }
  return rules;
}
