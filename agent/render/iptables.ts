// DesiredState -> the seed's netfilter layout as iptables rules, in the exact form iptables-save
// prints them (so drift checks compare text). Pure.

import { formatPortRange, type PortRange } from '../../config/net.js';
import { formatMark } from '../plan/marks.js';
import type { DesiredState, PlannedBackend, PlannedFarm } from '../plan/plan.js';
import { lastMatchProbabilities } from '../plan/shares.js';
import { backendLabel, persistenceSeconds, snatAddress } from './common.js';
import { CHAINS, DISPATCH_CHAINS, JUMPS, TABLES, chainKey, type Chain, type Ruleset, type Table } from './ruleset.js';

/** multiport takes at most 15 ports per rule, a range counting as two. */
const MULTIPORT_MAX = 15;
/** hash-srcip buckets are written in the top bit, outside any mark range the agent allocates. */
export const HASH_BUCKET_OFFSET = 0x80000000;

export function portChunks(ports: readonly PortRange[]): PortRange[][] {
  const chunks: PortRange[][] = [];
  let current: PortRange[] = [];
  let used = 0;
  for (const range of ports) {
    const cost = range.from === range.to ? 1 : 2;
    if (used + cost > MULTIPORT_MAX) {
      chunks.push(current);
      current = [];
      used = 0;
    }
    current.push(range);
    used += cost;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

const multiport = (chunk: readonly PortRange[]): string => `-m multiport --dports ${chunk.map((r) => formatPortRange(r)).join(',')}`;

/** The packet match of a farm: VIP, protocol, and one multiport clause per chunk of ports. */
function farmMatches(farm: PlannedFarm): string[] {
  return portChunks(farm.ports).map((chunk) => `-d ${farm.vip}/32 -p ${farm.protocol} ${multiport(chunk)}`);
}

const comment = (farm: PlannedFarm, backend: PlannedBackend): string => `-m comment --comment ${backendLabel(farm, backend)}`;
const setMark = (mark: number, mask: number): string => `-j MARK --set-xmark ${formatMark(mark)}/${formatMark(mask)}`;

/** The mangle MARK chain of one farm: the seed's statistic rules, or nth / HMARK, then persistence. */
function markRules(farm: PlannedFarm, mask: number): string[] {
  const chain = farm.chain;
  if (chain.length === 0) return [];
  const matches = farmMatches(farm);
  // Inside the chain the dispatch already matched the ports; repeat them (as the seed does)
  // only when they fit one multiport clause.
  const match = matches.length === 1 ? matches[0]! : `-d ${farm.vip}/32 -p ${farm.protocol}`;
  const rules: string[] = [];
  switch (farm.algorithm) {
    case 'weight': {
      const probabilities = lastMatchProbabilities(chain.map((b) => b.effectiveWeight));
      for (let i = chain.length - 1; i >= 0; i--) {
        const b = chain[i]!;
        rules.push(`${match} -m statistic --mode random --probability ${probabilities[i]!.toFixed(11)} ${comment(farm, b)} ${setMark(b.mark, mask)}`);
      }
      break;
    }
    case 'roundrobin': {
      const { sequence } = farm;
      sequence.forEach((owner, slot) => {
        // Rule `--packet p` of `--every n` matches the (n - p)th packet of each cycle; every rule
        // sees every new connection, so exactly one of them matches.
        const packet = sequence.length - 1 - slot;
        const b = chain[owner]!;
        rules.push(`${match} -m statistic --mode nth --every ${sequence.length} --packet ${packet} ${comment(farm, b)} ${setMark(b.mark, mask)}`);
      });
      break;
    }
    case 'hash-srcip': {
      rules.push(`${match} -j HMARK --hmark-src-prefix 32 --hmark-rnd 0x${farm.hashSeed.toString(16).padStart(8, '0')} --hmark-mod ${farm.buckets.length} --hmark-offset ${HASH_BUCKET_OFFSET}`);
      farm.buckets.forEach((owner, bucket) => {
        const b = chain[owner]!;
        rules.push(`-m mark --mark ${formatMark(HASH_BUCKET_OFFSET + bucket)} ${comment(farm, b)} -j MARK --set-xmark ${formatMark(b.mark)}/0xffffffff`);
      });
      break;
    }
    default: {
      const never: never = farm.algorithm;
      throw new Error(`unknown algorithm ${String(never)}`);
    }
  }
  if (farm.persistenceTtlMs !== undefined) {
    const seconds = persistenceSeconds(farm);
    const list = (b: PlannedBackend) => `--name HA_${b.mark.toString(16)} --mask 255.255.255.255 --rsource`;
    // A client seen recently keeps its backend: these rules come last, and the last match wins.
    for (const b of chain) rules.push(`-m recent --update --seconds ${seconds} --reap ${list(b)} ${comment(farm, b)} ${setMark(b.mark, mask)}`);
    for (const b of chain) rules.push(`-m mark --mark ${formatMark(b.mark)}/${formatMark(mask)} -m recent --set ${list(b)} ${comment(farm, b)}`);
  }
  return rules;
}

/** DNAT for every configured backend, in or out of the chain: a packet marked just before a
 * rewrite must still find its DNAT rule. */
function dnatRules(farm: PlannedFarm, mask: number): string[] {
  return farm.backends.map((b) =>
    `-p ${farm.protocol} -m mark --mark ${formatMark(b.mark)}/${formatMark(mask)} ${comment(farm, b)} -j DNAT --to-destination ${b.ip}${b.port === undefined ? '' : `:${b.port}`}`);
}

function snatRules(farm: PlannedFarm, mask: number): string[] {
  const address = snatAddress(farm);
  const target = address === undefined ? '-j MASQUERADE' : `-j SNAT --to-source ${address}`;
  return farm.backends.map((b) => `-p ${farm.protocol} -m mark --mark ${formatMark(b.mark)}/${formatMark(mask)} ${comment(farm, b)} ${target}`);
}

/** With no usable backend, refuse new connections at once instead of black-holing them. */
function rejectRules(farm: PlannedFarm): string[] {
  if (farm.chain.length > 0) return [];
  const how = farm.protocol === 'tcp' ? 'tcp-reset' : 'icmp-port-unreachable';
  return [`-p ${farm.protocol} -m comment --comment FARM_${farm.name}_down -j REJECT --reject-with ${how}`];
}

export interface FarmRender {
  readonly chains: readonly Chain[];
  /** Rules this farm adds to the shared dispatch chains. */
  readonly dispatch: readonly { readonly table: Table; readonly chain: string; readonly rule: string }[];
}

export function renderFarm(farm: PlannedFarm, mask: number): FarmRender {
  const farmComment = `-m comment --comment FARM_${farm.name}`;
  const chains: Chain[] = [
    { table: 'mangle', name: CHAINS.farmMark(farm.name), kind: 'ordered', rules: markRules(farm, mask) },
    { table: 'nat', name: CHAINS.farmDnat(farm.name), kind: 'ordered', rules: dnatRules(farm, mask) },
    { table: 'filter', name: CHAINS.farmReject(farm.name), kind: 'ordered', rules: rejectRules(farm) },
  ];
  const dispatch: { table: Table; chain: string; rule: string }[] = [];
  for (const match of farmMatches(farm)) {
    dispatch.push({ table: 'mangle', chain: CHAINS.markFarms, rule: `${match} ${farmComment} -j ${CHAINS.farmMark(farm.name)}` });
    dispatch.push({ table: 'nat', chain: CHAINS.dnat, rule: `${match} ${farmComment} -j ${CHAINS.farmDnat(farm.name)}` });
    // Filter INPUT/FORWARD see every packet of the box: jump to a farm's reject chain only
    // while it has nothing to offer, so the usual state costs one jump to an empty chain.
    if (farm.chain.length === 0) dispatch.push({ table: 'filter', chain: CHAINS.reject, rule: `${match} ${farmComment} -j ${CHAINS.farmReject(farm.name)}` });
  }
  if (farm.mode === 'snat') {
    chains.push({ table: 'nat', name: CHAINS.farmSnat(farm.name), kind: 'ordered', rules: snatRules(farm, mask) });
    dispatch.push({ table: 'nat', chain: CHAINS.snat, rule: `-p ${farm.protocol} -m conntrack --ctorigdst ${farm.vip} ${farmComment} -j ${CHAINS.farmSnat(farm.name)}` });
  }
  return { chains, dispatch };
}

/** The fixed head of the mangle layout: restore the connection's mark, mark new connections per
 * farm, save the choice so it sticks to the connection (the seed's CONNMARK restore/save). */
function preChain(mask: number): Chain {
  const m = formatMark(mask);
  return {
    table: 'mangle', name: CHAINS.pre, kind: 'ordered', rules: [
      `-j CONNMARK --restore-mark --nfmask ${m} --ctmask ${m}`,
      `-m conntrack --ctstate NEW -j ${CHAINS.markFarms}`,
      `-m conntrack --ctstate NEW -m mark ! --mark 0x0/${m} -j CONNMARK --save-mark --nfmask ${m} --ctmask ${m}`,
    ],
  };
}

/** Assembles the whole ruleset from per-farm renders (cached by the caller when unchanged). */
export function assembleRuleset(mask: number, farms: readonly FarmRender[]): Ruleset {
  const chains = new Map<string, Chain>();
  const add = (chain: Chain) => chains.set(chainKey(chain.table, chain.name), chain);
  add(preChain(mask));
  const dispatchChains = new Map(DISPATCH_CHAINS.map(({ table, name }) => [name, { table, rules: [] as string[] }]));
  for (const farm of farms) {
    farm.chains.forEach(add);
    for (const d of farm.dispatch) dispatchChains.get(d.chain)!.rules.push(d.rule);
  }
  for (const [name, { table, rules }] of dispatchChains) add({ table, name, kind: 'set', rules });
  return { chains, jumps: JUMPS };
}

export function renderRuleset(desired: DesiredState): Ruleset {
  return assembleRuleset(desired.markMask, desired.farms.map((farm) => renderFarm(farm, desired.markMask)));
}

/** The whole ruleset as iptables-restore input for a kernel that has none of it yet. */
export function formatRestore(ruleset: Ruleset): string {
  const lines: string[] = [];
  for (const table of TABLES) {
    const chains = [...ruleset.chains.values()].filter((c) => c.table === table);
    lines.push(`*${table}`);
    for (const chain of chains) lines.push(`:${chain.name} - [0:0]`);
    for (const chain of chains) for (const rule of chain.rules) lines.push(`-A ${chain.name} ${rule}`);
    for (const jump of ruleset.jumps.filter((j) => j.table === table)) lines.push(`-I ${jump.from} 1 -j ${jump.to}`);
    lines.push('COMMIT');
  }
  return `${lines.join('\n')}\n`;
}
