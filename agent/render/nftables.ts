// DesiredState -> the seed's layout in the agent's own `table ip ha_agent` (IPv6 farms: the same
// layout in `table ip6 ha_agent`; see nft-model.ts) (mark new connections
// by exact integer shares, restore/save marks via conntrack, DNAT/SNAT by mark, refuse when down),
// in few objects: three chains per farm, since `nft` lists every chain and set on each update. Pure.

import { formatPortRange } from '../../config/net.js';
import { formatMark } from '../plan/marks.js';
import type { DesiredState, PlannedBackend, PlannedFarm } from '../plan/plan.js';
import { DEFAULT_LOG_GROUP, LOG_BURST, LOG_RATE, backendLabel, logPrefix, snatAddress } from './common.js';
import { NFT_NAMES, formatFull, nftChain, type BaseHook, type NftChain, type NftFamily, type NftModel, type NftRule, type NftSet } from './nft-model.js';
import { byWeight, chooseStatements, goto, maskedMark, selectRules, setMark } from './nft-select.js';
import { ofFamily } from '../plan/plan.js';
import { diffNft, type NftTransaction } from './nft-diff.js';
import { isDirect } from '../route/plan.js';
import { jhashFiveTuple } from './hash-5tuple.js';
import { saddr } from './nft-select.js';

export { NFT_NAMES };

const ADDR_TYPE = { ip: 'ipv4_addr', ip6: 'ipv6_addr' } as const satisfies Record<NftFamily, string>;
const dispatchSpec = (family: NftFamily): string => `type ${ADDR_TYPE[family]} . inet_proto . inet_service : verdict; flags interval;`;
const MARK_SPEC = 'type mark : verdict;';
const persistSpec = (family: NftFamily): string => `type ${ADDR_TYPE[family]}; flags dynamic,timeout; size 65536;`;
export const nftFamily = (farm: PlannedFarm): NftFamily => (farm.family === 'ipv6' ? 'ip6' : 'ip');

const HOOKS = {
  /** Before conntrack (-200): where `notrack` takes effect. */
  raw: { type: 'filter', hook: 'prerouting', priority: -300, priorityName: 'raw' },
  mangle: { type: 'filter', hook: 'prerouting', priority: -150, priorityName: 'mangle' },
  dstnat: { type: 'nat', hook: 'prerouting', priority: -100, priorityName: 'dstnat' },
  srcnat: { type: 'nat', hook: 'postrouting', priority: 100, priorityName: 'srcnat' },
  input: { type: 'filter', hook: 'input', priority: 0, priorityName: 'filter' },
  forward: { type: 'filter', hook: 'forward', priority: 0, priorityName: 'filter' },
} as const satisfies Record<string, BaseHook>;

const dispatchKey = (family: NftFamily): string => `${family} daddr . meta l4proto . th dport`;

/**
 * A farm's keys in the dispatch maps. Protocol all covers every protocol number and port: a
 * packet with no ports (ICMP) is matched on the bytes where ports would be, which any value passes.
 */
function dispatchKeys(farm: PlannedFarm): string[] {
  if (farm.protocol === 'all') return [`${farm.vip} . 0-255 . 0-65535`];
  return farm.ports.map((range) => `${farm.vip} . ${farm.protocol} . ${formatPortRange(range, '-')}`);
}

/** Where DNAT sends a connection; nft writes an IPv6 address with a port in brackets. */
function dnatTo(farm: PlannedFarm, b: PlannedBackend): string {
  if (b.port === undefined) return `dnat to ${b.ip}`;
  return farm.family === 'ipv6' ? `dnat to [${b.ip}]:${b.port}` : `dnat to ${b.ip}:${b.port}`;
}

/** The refusal when a farm has nothing to offer: a reset for TCP, else ICMP port unreachable. */
function refusal(farm: PlannedFarm): NftRule[] {
  const comment = `FARM_${farm.name}_down`;
  const unreachable = farm.family === 'ipv6' ? 'reject with icmpv6 type port-unreachable' : 'reject with icmp type port-unreachable';
  switch (farm.protocol) {
    case 'tcp':
      return [{ text: 'meta l4proto tcp counter reject with tcp reset', comment }];
    case 'udp':
    case 'sctp':
      return [{ text: `meta l4proto ${farm.protocol} counter ${unreachable}`, comment }];
    case 'all':
      return [{ text: 'meta l4proto tcp counter reject with tcp reset', comment }, { text: `counter ${unreachable}`, comment }];
    default: {
      const never: never = farm.protocol;
      throw new Error(`unknown protocol ${String(never)}`);
    }
  }
}

/** Over a limit: dropped, or refused in the `refuse` chain (a reset for TCP, else ICMP). */
const overLimit = (farm: PlannedFarm): string => (farm.limits?.action === 'drop' ? 'drop' : goto(NFT_NAMES.refuse));

const hasLimits = (farm: PlannedFarm): boolean => farm.limits !== undefined || farm.backends.some((b) => b.maxConns > 0);

/**
 * A farm's limits, for its new connections after DNAT (forward or input): its cap on connections
 * held, its rate, each backend's cap (the agent also takes a full backend out of the choice; this
 * is the hard bound between counts). `ct count` counts the connections that passed it: the farm's,
 * or, after the mark test, the backend's. Each refusal is counted in a named counter.
 */
function limitRules(farm: PlannedFarm, mask: number): NftRule[] {
  const rules: NftRule[] = [];
  const limits = farm.limits;
  // The rate first: a connection it refuses never enters the established count's list.
  if (limits?.newPerSecond !== undefined) {
    rules.push({ text: `limit rate over ${limits.newPerSecond}/second burst ${limits.burst ?? limits.newPerSecond} packets counter name "${NFT_NAMES.overRate(farm.name)}" ${overLimit(farm)}`, comment: `FARM_${farm.name}_rate` });
  }
  if (limits?.established !== undefined) {
    rules.push({ text: `ct count over ${limits.established} counter name "${NFT_NAMES.overEstablished(farm.name)}" ${overLimit(farm)}`, comment: `FARM_${farm.name}_established` });
  }
  for (const b of farm.backends) {
    if (b.maxConns === 0) continue;
    rules.push({ text: `${markIs(b, mask)} ct count over ${b.maxConns} counter name "${NFT_NAMES.overBackend(farm.name, b.mark)}" ${goto(NFT_NAMES.refuse)}`, comment: backendLabel(farm, b) });
  }
  return rules;
}

/** The counters limitRules names. */
function limitCounters(farm: PlannedFarm): NftSet[] {
  const names = [
    ...(farm.limits?.newPerSecond !== undefined ? [NFT_NAMES.overRate(farm.name)] : []),
    ...(farm.limits?.established !== undefined ? [NFT_NAMES.overEstablished(farm.name)] : []),
    ...farm.backends.filter((b) => b.maxConns > 0).map((b) => NFT_NAMES.overBackend(farm.name, b.mark)),
  ];
  return names.map((name) => ({ name, kind: 'counter', spec: '' }));
}

export interface NftFarmRender {
  readonly chains: readonly NftChain[];
  readonly sets: readonly NftSet[];
  readonly elements: readonly { readonly map: string; readonly key: string; readonly value: string }[];
}

const markIs = (b: PlannedBackend, mask: number): string => `${maskedMark('meta mark', mask)} == ${formatMark(b.mark)}`;

/** [from, to, mark] runs of buckets with the same backend, so the map lists ranges. */
function bucketRuns(farm: PlannedFarm): string[] {
  const out: [number, number, number][] = [];
  farm.buckets.forEach((owner, bucket) => {
    const mark = farm.chain[owner]!.mark;
    const last = out[out.length - 1];
    if (last && last[2] === mark && last[1] === bucket - 1) last[1] = bucket;
    else out.push([bucket, bucket, mark]);
  });
  return out.map(([a, b, mark]) => `${a === b ? a : `${a}-${b}`} : ${formatMark(mark)}`);
}

/**
 * dsr and tunnel: the packet is untracked, so its mark comes from the hash on every packet, in
 * one rule (a hash into a bucket -> mark map, no per-backend chain); the kernel then routes by it
 * (agent/route). The whole mark is written, as the iptables bucket rules do. With no usable
 * backend the packet stays unmarked and the down chain refuses it.
 */
function renderDirectFarm(farm: PlannedFarm): NftFarmRender {
  const rules: NftRule[] = [{ text: 'counter', comment: `FARM_${farm.name}` }];
  if (farm.chain.length > 0) {
    const hash = farm.algorithm === 'hash-srcip' ? `jhash ${saddr(farm)} mod ${farm.buckets.length} seed ${formatMark(farm.hashSeed)}` : jhashFiveTuple(farm);
    rules.push({
      text: `meta mark set ${hash} map { ${bucketRuns(farm).join(', ')} }`,
      note: `${farm.algorithm}, ${farm.mode}: ${farm.buckets.length} buckets, every packet (untracked); the route by mark takes it to the backend`,
    });
  }
  const chains: NftChain[] = [nftChain(NFT_NAMES.farmDirect(farm.name), rules)];
  const down = farm.chain.length === 0;
  if (down) chains.push(nftChain(NFT_NAMES.farmDown(farm.name), refusal(farm)));
  const elements: { map: string; key: string; value: string }[] = [];
  for (const key of dispatchKeys(farm)) {
    elements.push({ map: NFT_NAMES.notrack, key, value: goto(NFT_NAMES.untrack) });
    elements.push({ map: NFT_NAMES.direct, key, value: goto(NFT_NAMES.farmDirect(farm.name)) });
    if (down) elements.push({ map: NFT_NAMES.down, key, value: goto(NFT_NAMES.farmDown(farm.name)) });
  }
  return { chains, sets: [], elements };
}

export function renderNftFarm(farm: PlannedFarm, mask: number, logGroup = DEFAULT_LOG_GROUP): NftFarmRender {
  // config/forwarding.ts keeps these farms to a hash and off persistence, limits, helpers and logs.
  if (isDirect(farm)) return renderDirectFarm(farm);
  const chains: NftChain[] = [nftChain(NFT_NAMES.farm(farm.name), selectRules(farm, mask))];
  // The seed's CONNMARK --restore-mark under the mask, for every packet of a connection of the
  // farm: nft 1.0.6 can only `or` a constant, so one rule per configured backend (a chain per
  // backend would multiply what nft lists on each update). Old marks keep working. A farm that
  // logs goes on past its backend's rule to the log rule, where the packet carries the mark that
  // names the backend.
  const restore: NftRule[] = farm.backends.map((b) => ({
    text: `${maskedMark('ct mark', mask)} == ${formatMark(b.mark)} ${setMark('meta mark', b.mark, mask)}${farm.log ? '' : ' return'}`,
    comment: backendLabel(farm, b),
  }));
  if (farm.log) {
    restore.push({ text: `ct state new limit rate ${LOG_RATE}/second burst ${LOG_BURST} packets log prefix "${logPrefix(farm)}" group ${logGroup}`, comment: `FARM_${farm.name}_log` });
  }
  chains.push(nftChain(NFT_NAMES.restore(farm.name), restore));
  if (!byWeight(farm)) {
    // Targets of the roundrobin/hash vmap; for every configured backend, so health changes leave them be.
    chains.push(...farm.backends.map((b) => nftChain(NFT_NAMES.mark(farm.name, b.mark), [{ text: chooseStatements(farm, b, mask), comment: backendLabel(farm, b) }])));
  }
  // DNAT for every configured backend: a packet marked just before a rewrite still finds its rule.
  // nft takes a port to DNAT to only after a transport protocol match; protocol all has no port.
  const l4 = farm.protocol === 'all' ? '' : `meta l4proto ${farm.protocol} `;
  chains.push(nftChain(NFT_NAMES.farmDnat(farm.name), farm.backends.map((b) => ({
    text: `${l4}${markIs(b, mask)} counter ${dnatTo(farm, b)}`,
    comment: backendLabel(farm, b),
  }))));
  if (farm.mode === 'snat') {
    const address = snatAddress(farm);
    const target = address === undefined ? 'masquerade' : `snat to ${address}`;
    chains.push(nftChain(NFT_NAMES.farmSnat(farm.name), farm.backends.map((b) => ({ text: `${markIs(b, mask)} counter ${target}`, comment: backendLabel(farm, b) }))));
  }
  const down = farm.chain.length === 0;
  if (down) {
    // Refused at once rather than black-holed: the client fails over or retries elsewhere.
    chains.push(nftChain(NFT_NAMES.farmDown(farm.name), refusal(farm)));
  }
  const limited = hasLimits(farm);
  if (limited) chains.push(nftChain(NFT_NAMES.farmLimit(farm.name), limitRules(farm, mask)));
  const sets: NftSet[] = farm.persistenceTtlMs === undefined ? []
    : farm.chain.map((b) => ({ name: NFT_NAMES.persist(farm.name, b.mark), kind: 'set', spec: persistSpec(nftFamily(farm)) }));
  sets.push(...limitCounters(farm));
  // One helper object per farm, so a farm's change never touches an object another farm uses.
  if (farm.helper !== undefined) sets.push({ name: NFT_NAMES.helper(farm.name), kind: 'ct helper', spec: `type "${farm.helper}" protocol ${farm.protocol};` });

  const elements: { map: string; key: string; value: string }[] = [];
  for (const key of dispatchKeys(farm)) {
    // A jump: after the farm chain chose, prerouting goes on to restore the packet's mark.
    elements.push({ map: NFT_NAMES.farms, key, value: `jump ${NFT_NAMES.farm(farm.name)}` });
    elements.push({ map: NFT_NAMES.dnat, key, value: goto(NFT_NAMES.farmDnat(farm.name)) });
    if (down) elements.push({ map: NFT_NAMES.down, key, value: goto(NFT_NAMES.farmDown(farm.name)) });
  }
  for (const b of farm.backends) {
    elements.push({ map: NFT_NAMES.marks, key: formatMark(b.mark), value: goto(NFT_NAMES.restore(farm.name)) });
    if (farm.mode === 'snat') elements.push({ map: NFT_NAMES.snat, key: formatMark(b.mark), value: goto(NFT_NAMES.farmSnat(farm.name)) });
    if (limited) elements.push({ map: NFT_NAMES.limits, key: formatMark(b.mark), value: goto(NFT_NAMES.farmLimit(farm.name)) });
  }
  return { chains, sets, elements };
}

/** The fixed part: the dispatch maps and the base chains hooked into netfilter. */
function baseParts(mask: number, family: NftFamily): { sets: NftSet[]; chains: NftChain[] } {
  const DISPATCH_SPEC = dispatchSpec(family);
  const DISPATCH_KEY = dispatchKey(family);
  const sets: NftSet[] = [
    { name: NFT_NAMES.farms, kind: 'map', spec: DISPATCH_SPEC },
    { name: NFT_NAMES.dnat, kind: 'map', spec: DISPATCH_SPEC },
    { name: NFT_NAMES.down, kind: 'map', spec: DISPATCH_SPEC },
    { name: NFT_NAMES.marks, kind: 'map', spec: MARK_SPEC },
    { name: NFT_NAMES.snat, kind: 'map', spec: MARK_SPEC },
  ];
  const chains = [
    nftChain('prerouting', [
      // The seed's CONNMARK --restore-mark, under the mask: one lookup on the connection's mark
      // finds its farm's restore chain. Marks of backends no longer configured are not restored;
      // their NAT lives on in conntrack.
      { text: `${maskedMark('ct mark', mask)} vmap @${NFT_NAMES.marks}`, note: 'a known connection gets its mark back; a new one to a farm gets a backend, then its mark' },
      { text: `ct state new ${DISPATCH_KEY} vmap @${NFT_NAMES.farms}` },
      { text: `ct state new ${maskedMark('ct mark', mask)} vmap @${NFT_NAMES.marks}` },
    ], HOOKS.mangle),
    nftChain('nat_prerouting', [{ text: `${DISPATCH_KEY} vmap @${NFT_NAMES.dnat}` }], HOOKS.dstnat),
    nftChain('nat_postrouting', [{ text: `${maskedMark('meta mark', mask)} vmap @${NFT_NAMES.snat}` }], HOOKS.srcnat),
    nftChain('input', [{ text: `${DISPATCH_KEY} vmap @${NFT_NAMES.down}` }], HOOKS.input),
    nftChain('forward', [{ text: `${DISPATCH_KEY} vmap @${NFT_NAMES.down}` }], HOOKS.forward),
  ];
  return { sets, chains };
}

/**
 * The limits' part, only while some farm has limits: their dispatch map (keyed by the backend's
 * mark the packet carries: after DNAT its destination is the backend's), its rule in input and
 * forward, and the refusal chain.
 */
function limitParts(mask: number, family: NftFamily): { sets: NftSet[]; chains: NftChain[]; rule: NftRule } {
  const key = `ct state new ${maskedMark('meta mark', mask)}`;
  return {
    sets: [{ name: NFT_NAMES.limits, kind: 'map', spec: MARK_SPEC }],
    chains: [nftChain(NFT_NAMES.refuse, [
      { text: 'meta l4proto tcp reject with tcp reset' },
      { text: family === 'ip6' ? 'reject with icmpv6 type port-unreachable' : 'reject with icmp type port-unreachable' },
    ])],
    rule: { text: `${key} vmap @${NFT_NAMES.limits}` },
  };
}

/**
 * The dsr/tunnel part, only while some farm is dsr or tunnel: their VIP:ports untracked in both
 * directions (destination, and source for replies where the LB is the backends' gateway: one map
 * serves both lookups), and the untracked packets sent to their farm's direct chain.
 */
function directParts(family: NftFamily): { sets: NftSet[]; chains: NftChain[]; rule: NftRule } {
  return {
    sets: [
      { name: NFT_NAMES.notrack, kind: 'map', spec: dispatchSpec(family) },
      { name: NFT_NAMES.direct, kind: 'map', spec: dispatchSpec(family) },
    ],
    chains: [
      nftChain(NFT_NAMES.notrackHook, [
        { text: `${dispatchKey(family)} vmap @${NFT_NAMES.notrack}` },
        { text: `${family} saddr . meta l4proto . th sport vmap @${NFT_NAMES.notrack}` },
      ], HOOKS.raw),
      nftChain(NFT_NAMES.untrack, [{ text: 'notrack' }]),
    ],
    rule: { text: `ct state untracked ${dispatchKey(family)} vmap @${NFT_NAMES.direct}` },
  };
}

/** Puts the fixed part and the farms' renders (cached by the caller when unchanged) together. */
export function assembleNft(mask: number, farms: readonly NftFarmRender[], family: NftFamily = 'ip'): NftModel {
  const base = baseParts(mask, family);
  if (farms.some((farm) => farm.elements.some((e) => e.map === NFT_NAMES.direct))) {
    const direct = directParts(family);
    base.sets.push(...direct.sets);
    base.chains.push(...direct.chains);
    base.chains = base.chains.map((c) => (c.base && c.name === 'prerouting' ? nftChain(c.name, [...c.rules, direct.rule], c.base) : c));
  }
  if (farms.some((farm) => farm.elements.some((e) => e.map === NFT_NAMES.limits))) {
    const limits = limitParts(mask, family);
    base.sets.push(...limits.sets);
    base.chains.push(...limits.chains);
    base.chains = base.chains.map((c) => (c.base && (c.name === 'input' || c.name === 'forward') ? nftChain(c.name, [limits.rule, ...c.rules], c.base) : c));
  }
  const sets = new Map<string, NftSet>(base.sets.map((s) => [s.name, s]));
  const chains = new Map<string, NftChain>(base.chains.map((c) => [c.name, c]));
  const elements = new Map<string, Map<string, string>>(base.sets.map((s) => [s.name, new Map()]));
  for (const farm of farms) {
    for (const s of farm.sets) sets.set(s.name, s);
    for (const c of farm.chains) chains.set(c.name, c);
    for (const e of farm.elements) elements.get(e.map)!.set(e.key, e.value);
  }
  return { family, sets, chains, elements };
}

/** The table of one family (IPv4 by default) for the farms of that family in `desired`. */
export function nftModel(desired: DesiredState, family: NftFamily = 'ip'): NftModel {
  const farms = ofFamily(desired, family === 'ip6' ? 'ipv6' : 'ipv4').farms;
  return assembleNft(desired.markMask, farms.map((farm) => renderNftFarm(farm, desired.markMask, desired.logGroup)), family);
}

/**
 * The full `nft -f` text: the agent's table replaced whole, whatever version the kernel holds;
 * with IPv6 farms, their `ip6` table too, in the same file and so the same transaction.
 */
export function renderNft(desired: DesiredState): string {
  const text = formatFull(nftModel(desired));
  if (!desired.farms.some((farm) => farm.family === 'ipv6')) return text;
  return `${text}
${formatFull(nftModel(desired, 'ip6'), false)}`;
}

/** The transaction that turns the farms `before` into the farms `after` (the fixed part alike). */
export function diffFarms(mask: number, before: readonly NftFarmRender[], after: readonly NftFarmRender[], family: NftFamily = 'ip'): NftTransaction | null {
  return diffNft(assembleNft(mask, before, family), assembleNft(mask, after, family));
}

