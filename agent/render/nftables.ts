// DesiredState -> the seed's layout in the agent's own `table ip ha_agent` (mark new connections
// by exact integer shares, restore/save marks via conntrack, DNAT/SNAT by mark, refuse when down). Pure.

import { formatPortRange } from '../../config/net.js';
import type { DesiredState, PlannedBackend, PlannedFarm } from '../plan/plan.js';
import { slotCounts, smoothSequence } from '../plan/shares.js';
import { formatFull, hex, nftChain, type BaseHook, type NftChain, type NftModel, type NftRule, type NftSet } from './nft-model.js';
import { diffNft } from './nft-diff.js';

export const NFT_NAMES = {
  /** Verdict maps keyed by VIP . protocol . port (interval: ranges), so a farm is a few elements. */
  farms: 'farm_dispatch',
  dnat: 'dnat_dispatch',
  down: 'down_dispatch',
  /** Verdict maps keyed by mark. Names carry a suffix: bare `snat` is an nft keyword. */
  restore: 'mark_restore',
  snat: 'snat_dispatch',
  farm: (farm: string) => `farm_${farm}`,
  mark: (farm: string, mark: number) => `mark_${farm}_${mark.toString(16)}`,
  persist: (farm: string, mark: number) => `persist_${farm}_${mark.toString(16)}`,
  farmDnat: (farm: string) => `dnat_${farm}`,
  farmSnat: (farm: string) => `snat_${farm}`,
  farmDown: (farm: string) => `down_${farm}`,
} as const;

const DISPATCH_SPEC = 'type ipv4_addr . inet_proto . inet_service : verdict; flags interval;';
const MARK_SPEC = 'type mark : verdict;';
const PERSIST_SPEC = 'type ipv4_addr; flags dynamic,timeout; size 65536;';
/** Weight shares are rounded onto at most this many numgen slots (shares.ts MAX_SLOTS). */
const WEIGHT_SCALE = 1000;

const HOOKS = {
  mangle: { type: 'filter', hook: 'prerouting', priority: -150, priorityName: 'mangle' },
  dstnat: { type: 'nat', hook: 'prerouting', priority: -100, priorityName: 'dstnat' },
  srcnat: { type: 'nat', hook: 'postrouting', priority: 100, priorityName: 'srcnat' },
  input: { type: 'filter', hook: 'input', priority: 0, priorityName: 'filter' },
  forward: { type: 'filter', hook: 'forward', priority: 0, priorityName: 'filter' },
} as const satisfies Record<string, BaseHook>;

const DISPATCH_KEY = 'ip daddr . meta l4proto . th dport';
const maskedMark = (what: 'meta mark' | 'ct mark', mask: number): string => (mask >>> 0 === 0xffffffff ? what : `${what} and ${hex(mask)}`);

/** nft 1.0.6 only takes constants on the right of `and`/`or`, so a masked write names its mark. */
function setMark(what: 'meta mark' | 'ct mark', mark: number, mask: number): string {
  return mask >>> 0 === 0xffffffff ? `${what} set ${hex(mark)}` : `${what} set ${what} and ${hex(~mask)} or ${hex(mark & mask)}`;
}

export interface NftFarmRender {
  readonly chains: readonly NftChain[];
  readonly sets: readonly NftSet[];
  readonly elements: readonly { readonly map: string; readonly key: string; readonly value: string }[];
}

const label = (farm: PlannedFarm, b: PlannedBackend): string => `FARM_${farm.name}_${b.index}_`;
const goto = (chain: string): string => `goto ${chain}`;

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

function weightRule(farm: PlannedFarm): NftRule {
  const weights = farm.chain.map((b) => b.effectiveWeight);
  const slots = slotCounts(weights.map((w) => Math.round(w * WEIGHT_SCALE)));
  const total = slots.reduce((a, b) => a + b, 0);
  const sum = weights.reduce((a, b) => a + b, 0);
  const error = Math.max(...slots.map((s, i) => Math.abs(s / total - weights[i]! / sum)));
  const owners = slots.flatMap((count, owner) => Array<number>(count).fill(owner));
  const exactness = error < 1e-9 ? 'the exact weight shares' : `the weight shares to within ${(error * 100).toFixed(3)} points`;
  return {
    text: vmap(`numgen random mod ${total}`, owners, farm),
    note: `weight: slots ${slots.join(':')} of ${total} give ${exactness} (numgen random is uniform over the slots to within 2^-32)`,
  };
}

function selectRules(farm: PlannedFarm): NftRule[] {
  // Counts new connections of the farm; also gives an all-down farm's chain a rule to carry its digest.
  const rules: NftRule[] = [{ text: 'counter', comment: `FARM_${farm.name}` }];
  if (farm.chain.length === 0) return rules;
  if (farm.persistenceTtlMs !== undefined) {
    farm.chain.forEach((b, i) => rules.push({
      text: `ip saddr @${NFT_NAMES.persist(farm.name, b.mark)} ${goto(NFT_NAMES.mark(farm.name, b.mark))}`,
      ...(i === 0 ? { note: `persistence: a client seen in the last ${ttlSeconds(farm)}s keeps its backend (one set per backend in the chain)` } : {}),
    }));
  }
  if (farm.chain.length === 1) {
    rules.push({ text: goto(NFT_NAMES.mark(farm.name, farm.chain[0]!.mark)), note: 'one backend in the chain: every new connection' });
    return rules;
  }
  switch (farm.algorithm) {
    case 'weight':
      rules.push(weightRule(farm));
      break;
    case 'roundrobin': {
      const sequence = smoothSequence(slotCounts(farm.chain.map((b) => b.effectiveWeight)));
      rules.push({ text: vmap(`numgen inc mod ${sequence.length}`, sequence, farm), note: `roundrobin: a cycle of ${sequence.length} new connections in smooth weighted order` });
      break;
    }
    case 'hash-srcip':
      rules.push({
        text: vmap(`jhash ip saddr mod ${farm.buckets.length} seed ${hex(farm.hashSeed)}`, farm.buckets, farm),
        note: `hash-srcip: ${farm.buckets.length} buckets; a failed backend's buckets move, the others stay`,
      });
      break;
    default: {
      const never: never = farm.algorithm;
      throw new Error(`unknown algorithm ${String(never)}`);
    }
  }
  return rules;
}

const ttlSeconds = (farm: PlannedFarm): number => Math.max(1, Math.ceil((farm.persistenceTtlMs ?? 0) / 1000));

/** Sets the backend's mark; for a new connection also saves it in conntrack (and persistence). */
function markChain(farm: PlannedFarm, b: PlannedBackend, mask: number): NftChain {
  const rules: NftRule[] = [
    { text: setMark('meta mark', b.mark, mask), comment: label(farm, b) },
    // Reached from the restore map by a packet of a known connection: the mark is all it needs.
    { text: 'ct state != new return' },
    { text: `${setMark('ct mark', b.mark, mask)} counter` },
  ];
  if (farm.persistenceTtlMs !== undefined && b.inChain) {
    rules.push({ text: `update @${NFT_NAMES.persist(farm.name, b.mark)} { ip saddr timeout ${ttlSeconds(farm)}s }` });
  }
  return nftChain(NFT_NAMES.mark(farm.name, b.mark), rules);
}

const markIs = (b: PlannedBackend, mask: number): string => `${maskedMark('meta mark', mask)} == ${hex(b.mark)}`;

export function renderNftFarm(farm: PlannedFarm, mask: number): NftFarmRender {
  const chains: NftChain[] = [nftChain(NFT_NAMES.farm(farm.name), selectRules(farm))];
  chains.push(...farm.backends.map((b) => markChain(farm, b, mask)));
  // DNAT for every configured backend: a packet marked just before a rewrite still finds its rule.
  chains.push(nftChain(NFT_NAMES.farmDnat(farm.name), farm.backends.map((b) => ({
    text: `meta l4proto ${farm.protocol} ${markIs(b, mask)} counter dnat to ${b.ip}${b.port === undefined ? '' : `:${b.port}`}`,
    comment: label(farm, b),
  }))));
  if (farm.mode === 'snat') {
    const target = farm.snatSource === 'masquerade' ? 'masquerade' : `snat to ${farm.snatSource === 'vip' ? farm.vip : farm.snatSource}`;
    chains.push(nftChain(NFT_NAMES.farmSnat(farm.name), farm.backends.map((b) => ({ text: `${markIs(b, mask)} counter ${target}`, comment: label(farm, b) }))));
  }
  const down = farm.chain.length === 0;
  if (down) {
    // Refused at once rather than black-holed: the client fails over or retries elsewhere.
    const how = farm.protocol === 'tcp' ? 'reject with tcp reset' : 'reject with icmp type port-unreachable';
    chains.push(nftChain(NFT_NAMES.farmDown(farm.name), [{ text: `meta l4proto ${farm.protocol} counter ${how}`, comment: `FARM_${farm.name}_down` }]));
  }
  const sets: NftSet[] = farm.persistenceTtlMs === undefined ? []
    : farm.chain.map((b) => ({ name: NFT_NAMES.persist(farm.name, b.mark), kind: 'set', spec: PERSIST_SPEC }));

  const elements: { map: string; key: string; value: string }[] = [];
  for (const range of farm.ports) {
    const key = `${farm.vip} . ${farm.protocol} . ${formatPortRange(range, '-')}`;
    elements.push({ map: NFT_NAMES.farms, key, value: goto(NFT_NAMES.farm(farm.name)) });
    elements.push({ map: NFT_NAMES.dnat, key, value: goto(NFT_NAMES.farmDnat(farm.name)) });
    if (down) elements.push({ map: NFT_NAMES.down, key, value: goto(NFT_NAMES.farmDown(farm.name)) });
  }
  for (const b of farm.backends) {
    elements.push({ map: NFT_NAMES.restore, key: hex(b.mark), value: goto(NFT_NAMES.mark(farm.name, b.mark)) });
    if (farm.mode === 'snat') elements.push({ map: NFT_NAMES.snat, key: hex(b.mark), value: goto(NFT_NAMES.farmSnat(farm.name)) });
  }
  return { chains, sets, elements };
}

/** The fixed part: the dispatch maps and the base chains hooked into netfilter. */
function baseParts(mask: number): { sets: NftSet[]; chains: NftChain[] } {
  const sets: NftSet[] = [
    { name: NFT_NAMES.farms, kind: 'map', spec: DISPATCH_SPEC },
    { name: NFT_NAMES.dnat, kind: 'map', spec: DISPATCH_SPEC },
    { name: NFT_NAMES.down, kind: 'map', spec: DISPATCH_SPEC },
    { name: NFT_NAMES.restore, kind: 'map', spec: MARK_SPEC },
    { name: NFT_NAMES.snat, kind: 'map', spec: MARK_SPEC },
  ];
  const chains = [
    nftChain('prerouting', [
      // The seed's CONNMARK --restore-mark, under the mask: one lookup on the connection's mark.
      // Marks of backends no longer configured are not restored; their NAT lives on in conntrack.
      { text: `${maskedMark('ct mark', mask)} vmap @${NFT_NAMES.restore}`, note: 'a known connection gets its mark back; a new one to a farm gets a backend' },
      { text: `ct state new ${DISPATCH_KEY} vmap @${NFT_NAMES.farms}` },
    ], HOOKS.mangle),
    nftChain('nat_prerouting', [{ text: `${DISPATCH_KEY} vmap @${NFT_NAMES.dnat}` }], HOOKS.dstnat),
    nftChain('nat_postrouting', [{ text: `${maskedMark('meta mark', mask)} vmap @${NFT_NAMES.snat}` }], HOOKS.srcnat),
    nftChain('input', [{ text: `${DISPATCH_KEY} vmap @${NFT_NAMES.down}` }], HOOKS.input),
    nftChain('forward', [{ text: `${DISPATCH_KEY} vmap @${NFT_NAMES.down}` }], HOOKS.forward),
  ];
  return { sets, chains };
}

/** Puts the fixed part and the farms' renders (cached by the caller when unchanged) together. */
export function assembleNft(mask: number, farms: readonly NftFarmRender[]): NftModel {
  const base = baseParts(mask);
  const sets = new Map<string, NftSet>(base.sets.map((s) => [s.name, s]));
  const chains = new Map<string, NftChain>(base.chains.map((c) => [c.name, c]));
  const elements = new Map<string, Map<string, string>>(base.sets.map((s) => [s.name, new Map()]));
  for (const farm of farms) {
    for (const s of farm.sets) sets.set(s.name, s);
    for (const c of farm.chains) chains.set(c.name, c);
    for (const e of farm.elements) elements.get(e.map)!.set(e.key, e.value);
  }
  return { sets, chains, elements };
}

export function nftModel(desired: DesiredState): NftModel {
  return assembleNft(desired.markMask, desired.farms.map((farm) => renderNftFarm(farm, desired.markMask)));
}

/** The full `nft -f` text: the agent's table replaced whole, whatever version the kernel holds. */
export function renderNft(desired: DesiredState): string {
  return formatFull(nftModel(desired));
}

/**
 * The `nft -f` text that turns `previous` (as applied) into `next`, touching only what differs:
 * farms outside `changed` are taken as unchanged. Without `previous`, the full text. Empty when
 * there is nothing to do.
 */
export function renderNftUpdate(previous: DesiredState | undefined, next: DesiredState, changed?: ReadonlySet<string>): string {
  if (!previous) return renderNft(next);
  const before = new Map(previous.farms.map((farm) => [farm.name, renderNftFarm(farm, previous.markMask)]));
  const sameMask = previous.markMask === next.markMask;
  const renders = next.farms.map((farm) => {
    const cached = before.get(farm.name);
    return cached && sameMask && changed && !changed.has(farm.name) ? cached : renderNftFarm(farm, next.markMask);
  });
  const prevModel = assembleNft(previous.markMask, [...before.values()]);
  return diffNft(prevModel, assembleNft(next.markMask, renders))?.text ?? '';
}
