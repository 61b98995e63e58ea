// DesiredState -> the seed's netfilter layout as iptables rules, in the exact form iptables-save
// prints them (so drift checks compare text). The same layout serves ip6tables: a caller passes
// the farms of one family (plan.ts ofFamily) and feeds the text to that family's tool. Pure.

import { formatPortRange, type IpFamily, type PortRange } from '../../config/net.js';
import { fnv1a, formatMark } from '../plan/marks.js';
import { ofFamily, type DesiredState, type PlannedBackend, type PlannedFarm } from '../plan/plan.js';
import { lastMatchProbabilities } from '../plan/shares.js';
import { backendLabel, persistenceSeconds, snatAddress } from './common.js';
import {
  BUCKETS, CHAINS, DISPATCH_CHAINS, HELPER_DISPATCH, LIMIT_DISPATCH, NOTRACK_DISPATCH, SETS, TABLES, chainKey, jumpsFor, type Chain, type IpSet, type Ruleset, type Table,
} from './ruleset.js';
import { LOG_BURST, LOG_RATE, logPrefix } from './common.js';
import { hmarkFiveTuple } from './hash-5tuple.js';
import { bucketDispatch } from './iptables-buckets.js';
import { isDirect } from '../route/plan.js';

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

const v6 = (farm: PlannedFarm): boolean => farm.family === 'ipv6';
/** The VIP as a host match, as iptables-save prints it. */
const vipMatch = (farm: PlannedFarm): string => `-d ${farm.vip}/${v6(farm) ? 128 : 32}`;
/** `-p PROTO `, or nothing for protocol all. */
const protoMatch = (farm: PlannedFarm): string => (farm.protocol === 'all' ? '' : `-p ${farm.protocol} `);

/** The packet match of a farm: VIP, protocol, and one multiport clause per chunk of ports
 * (protocol all: the VIP alone, every protocol and port). */
function farmMatches(farm: PlannedFarm): string[] {
  if (farm.protocol === 'all') return [vipMatch(farm)];
  return portChunks(farm.ports).map((chunk) => `${vipMatch(farm)} -p ${farm.protocol} ${multiport(chunk)}`);
}

/** The same packets in the other direction (replies from the VIP), for NOTRACK. */
function replyMatches(farm: PlannedFarm): string[] {
  const src = `-s ${farm.vip}/${v6(farm) ? 128 : 32}`;
  if (farm.protocol === 'all') return [src];
  return portChunks(farm.ports).map((chunk) => `${src} -p ${farm.protocol} -m multiport --sports ${chunk.map((r) => formatPortRange(r)).join(',')}`);
}

/** Where DNAT sends a connection: ip6tables writes an IPv6 address with a port in brackets. */
const dnatTarget = (farm: PlannedFarm, b: PlannedBackend): string =>
  b.port === undefined ? b.ip : v6(farm) ? `[${b.ip}]:${b.port}` : `${b.ip}:${b.port}`;

const comment = (farm: PlannedFarm, backend: PlannedBackend): string => `-m comment --comment ${backendLabel(farm, backend)}`;
const setMark = (mark: number, mask: number): string => `-j MARK --set-xmark ${formatMark(mark)}/${formatMark(mask)}`;

/** Appends the bucket -> backend mark rules after the HMARK rule; returns their sub-chains. */
function bucketRules(farm: PlannedFarm, rules: string[]): readonly Chain[] {
  // Nothing after the buckets: a packet may end in its sub-chain (goto) instead of walking back.
  const last = farm.persistenceTtlMs === undefined && !farm.log;
  const targets = farm.chain.map((b) => ({ mark: b.mark, comment: comment(farm, b) }));
  const dispatch = bucketDispatch(farm.name, farm.buckets, targets, HASH_BUCKET_OFFSET, last);
  rules.push(...dispatch.rules);
  return dispatch.chains;
}

/** The mangle MARK chain of one farm (the seed's statistic rules, or nth / HMARK, then
 * persistence) and, for the hash algorithms, its bucket sub-chains. */
function markChains(farm: PlannedFarm, mask: number, logGroup: number): Chain[] {
  const subChains: Chain[] = [];
  const rules = markRules(farm, mask, logGroup, subChains);
  return [{ table: 'mangle', name: CHAINS.farmMark(farm.name), kind: 'ordered', rules }, ...subChains];
}

function markRules(farm: PlannedFarm, mask: number, logGroup: number, subChains: Chain[]): string[] {
  const chain = farm.chain;
  if (chain.length === 0) return [];
  const matches = farmMatches(farm);
  // Inside the chain the dispatch already matched the ports; repeat them (as the seed does)
  // only when they fit one multiport clause.
  const match = matches.length === 1 ? matches[0]! : `${vipMatch(farm)} -p ${farm.protocol}`;
  const rules: string[] = [];
  switch (farm.algorithm) {
    case 'weight':
    case 'leastconn': {
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
      rules.push(`${match} -j HMARK --hmark-src-prefix ${v6(farm) ? 128 : 32} --hmark-rnd 0x${farm.hashSeed.toString(16).padStart(8, '0')} --hmark-mod ${farm.buckets.length} --hmark-offset ${HASH_BUCKET_OFFSET}`);
      subChains.push(...bucketRules(farm, rules));
      break;
    }
    // hash-5tuple (hash-5tuple.ts): the same bucket dispatch as hash-srcip over a 5-tuple HMARK.
    case 'hash-5tuple': {
      rules.push(`${match} ${hmarkFiveTuple(farm, HASH_BUCKET_OFFSET)}`);
      subChains.push(...bucketRules(farm, rules));
      break;
    }
    default: {
      const never: never = farm.algorithm;
      throw new Error(`unknown algorithm ${String(never)}`);
    }
  }
  if (farm.persistenceTtlMs !== undefined) {
    const seconds = persistenceSeconds(farm);
    const hostMask = v6(farm) ? 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' : '255.255.255.255';
    const list = (b: PlannedBackend) => `--name HA_${b.mark.toString(16)} --mask ${hostMask} --rsource`;
    // A client seen recently keeps its backend: these rules come last, and the last match wins.
    for (const b of chain) rules.push(`-m recent --update --seconds ${seconds} --reap ${list(b)} ${comment(farm, b)} ${setMark(b.mark, mask)}`);
    for (const b of chain) rules.push(`-m mark --mark ${formatMark(b.mark)}/${formatMark(mask)} -m recent --set ${list(b)} ${comment(farm, b)}`);
  }
  // The packet carries its backend's mark by now: the log line names the backend by it.
  if (farm.log) rules.push(`-m limit --limit ${LOG_RATE}/sec --limit-burst ${LOG_BURST} -m comment --comment FARM_${farm.name}_log -j NFLOG --nflog-prefix "${logPrefix(farm)}" --nflog-group ${logGroup}`);
  return rules;
}

/** Which bucket chain holds a VIP's dispatch rules: its low 5 bits (the same on every node and run). */
export function bucketOf(vip: string): number {
  if (!vip.includes(':')) return Number(vip.split('.')[3]) % BUCKETS;
  const last = vip.split(':').at(-1) ?? '';
  // An IPv6 address may end in dotted IPv4 form (64:ff9b::192.0.2.1): its last byte is the last octet.
  if (last.includes('.')) return Number(last.split('.')[3]) % BUCKETS;
  return (last ? parseInt(last, 16) : 0) % BUCKETS;
}

/** The destination match of bucket k: the VIP's low bits under a mask, as iptables-save prints it. */
const bucketMatch = (family: IpFamily, k: number): string =>
  (family === 'ipv6' ? `-d ::${k === 0 ? '' : k.toString(16)}/::${(BUCKETS - 1).toString(16)}` : `-d 0.0.0.${k}/0.0.0.${BUCKETS - 1}`);

/** Over a limit: dropped, or refused through HAGENT-REFUSE (a reset for TCP, else ICMP). */
const overLimit = (farm: PlannedFarm): string => (farm.limits?.action === 'drop' ? '-j DROP' : `-j ${CHAINS.refuse}`);

/** hashlimit names are one space per namespace and at most 15 bytes: a hash of the farm's name. */
export const rateName = (farm: PlannedFarm): string => `HA_${fnv1a(`ha-agent/${farm.name}`).toString(16).padStart(8, '0')}`;

/**
 * The filter chain of a farm with limits or max_conns, for its new connections after DNAT: the
 * farm's cap on connections held, its rate, each backend's cap (the agent also takes a full
 * backend out of the MARK chain; this is the hard bound in between counts). connlimit with mask 0
 * counts every connection that passed the rule: the farm's, or the backend's after its mark.
 */
function limitRules(farm: PlannedFarm, mask: number): string[] {
  const rules: string[] = [];
  const limits = farm.limits;
  // The rate first: a connection it refuses never enters the established count's list.
  if (limits?.newPerSecond !== undefined) {
    rules.push(`-m hashlimit --hashlimit-above ${limits.newPerSecond}/sec --hashlimit-burst ${limits.burst ?? limits.newPerSecond} --hashlimit-name ${rateName(farm)} -m comment --comment FARM_${farm.name}_rate ${overLimit(farm)}`);
  }
  if (limits?.established !== undefined) {
    rules.push(`-m connlimit --connlimit-above ${limits.established} --connlimit-mask 0 --connlimit-saddr -m comment --comment FARM_${farm.name}_established ${overLimit(farm)}`);
  }
  for (const b of farm.backends) {
    if (b.maxConns === 0) continue;
    rules.push(`-m mark --mark ${formatMark(b.mark)}/${formatMark(mask)} -m connlimit --connlimit-above ${b.maxConns} --connlimit-mask 0 --connlimit-saddr ${comment(farm, b)} -j ${CHAINS.refuse}`);
  }
  return rules;
}

const hasLimits = (farm: PlannedFarm): boolean => farm.limits !== undefined || farm.backends.some((b) => b.maxConns > 0);

/** The farm's new connections by their original destination (after DNAT the packet's is the backend's). */
function origMatches(farm: PlannedFarm): string[] {
  const dst = `-m conntrack --ctstate NEW --ctorigdst ${farm.vip}`;
  if (farm.protocol === 'all') return [dst];
  return farm.ports.map((r) => `-p ${farm.protocol} ${dst} --ctorigdstport ${formatPortRange(r)}`);
}

/** DNAT for every configured backend, in or out of the chain: a packet marked just before a
 * rewrite must still find its DNAT rule. */
function dnatRules(farm: PlannedFarm, mask: number): string[] {
  return farm.backends.map((b) =>
    `${protoMatch(farm)}-m mark --mark ${formatMark(b.mark)}/${formatMark(mask)} ${comment(farm, b)} -j DNAT --to-destination ${dnatTarget(farm, b)}`);
}

function snatRules(farm: PlannedFarm, mask: number): string[] {
  const address = snatAddress(farm);
  const target = address === undefined ? '-j MASQUERADE' : `-j SNAT --to-source ${address}`;
  return farm.backends.map((b) => `${protoMatch(farm)}-m mark --mark ${formatMark(b.mark)}/${formatMark(mask)} ${comment(farm, b)} ${target}`);
}

/** With no usable backend, refuse new connections at once instead of black-holing them. */
function rejectRules(farm: PlannedFarm): string[] {
  if (farm.chain.length > 0) return [];
  const label = `-m comment --comment FARM_${farm.name}_down`;
  const unreachable = `${label} -j REJECT --reject-with ${v6(farm) ? 'icmp6' : 'icmp'}-port-unreachable`;
  switch (farm.protocol) {
    case 'tcp':
      return [`-p tcp ${label} -j REJECT --reject-with tcp-reset`];
    case 'udp':
    case 'sctp':
      return [`-p ${farm.protocol} ${unreachable}`];
    case 'all':
      // TCP clients take a reset best; every other protocol an ICMP port unreachable.
      return [`-p tcp ${label} -j REJECT --reject-with tcp-reset`, unreachable];
    default: {
      const never: never = farm.protocol;
      throw new Error(`unknown protocol ${String(never)}`);
    }
  }
}

export interface FarmRender {
  readonly vip: string;
  readonly chains: readonly Chain[];
  /** Rules this farm adds to the shared dispatch chains. */
  readonly dispatch: readonly { readonly table: Table; readonly chain: string; readonly rule: string }[];
}

export function renderFarm(farm: PlannedFarm, mask: number, logGroup = 5): FarmRender {
  const farmComment = `-m comment --comment FARM_${farm.name}`;
  const bucket = bucketOf(farm.vip);
  // dsr and tunnel route by the mark (agent/route) instead of rewriting: no DNAT chain, and the
  // VIP's traffic is not tracked, so the MARK chain sees (and marks) every packet of a flow.
  const direct = isDirect(farm);
  const chains: Chain[] = [
    ...markChains(farm, mask, logGroup),
    ...(direct ? [] : [{ table: 'nat', name: CHAINS.farmDnat(farm.name), kind: 'ordered', rules: dnatRules(farm, mask) } satisfies Chain]),
    { table: 'filter', name: CHAINS.farmReject(farm.name), kind: 'ordered', rules: rejectRules(farm) },
  ];
  const dispatch: { table: Table; chain: string; rule: string }[] = [];
  for (const match of farmMatches(farm)) {
    dispatch.push({ table: 'mangle', chain: CHAINS.markBucket(bucket), rule: `${match} ${farmComment} -j ${CHAINS.farmMark(farm.name)}` });
    if (direct) dispatch.push({ table: NOTRACK_DISPATCH.table, chain: NOTRACK_DISPATCH.name, rule: `${match} ${farmComment} -j CT --notrack` });
    else dispatch.push({ table: 'nat', chain: CHAINS.dnatBucket(bucket), rule: `${match} ${farmComment} -j ${CHAINS.farmDnat(farm.name)}` });
    // Filter INPUT/FORWARD see every packet of the box: jump to a farm's reject chain only
    // while it has nothing to offer, so the usual state costs one jump to an empty chain.
    if (farm.chain.length === 0) dispatch.push({ table: 'filter', chain: CHAINS.reject, rule: `${match} ${farmComment} -j ${CHAINS.farmReject(farm.name)}` });
    // Explicitly, per farm (the CT target), never by the kernel's global automatic assignment.
    if (farm.helper !== undefined) dispatch.push({ table: HELPER_DISPATCH.table, chain: HELPER_DISPATCH.name, rule: `${match} ${farmComment} -j CT --helper ${farm.helper}` });
  }
  // Replies pass the LB only where it is the backends' gateway; untracked as well, so the LB
  // keeps no state for the VIP either way.
  if (direct) for (const match of replyMatches(farm)) dispatch.push({ table: NOTRACK_DISPATCH.table, chain: NOTRACK_DISPATCH.name, rule: `${match} ${farmComment} -j CT --notrack` });
  if (hasLimits(farm)) {
    chains.push({ table: 'filter', name: CHAINS.farmLimit(farm.name), kind: 'ordered', rules: limitRules(farm, mask) });
    for (const match of origMatches(farm)) dispatch.push({ table: LIMIT_DISPATCH.table, chain: LIMIT_DISPATCH.name, rule: `${match} ${farmComment} -j ${CHAINS.farmLimit(farm.name)}` });
  }
  if (farm.mode === 'snat') {
    chains.push({ table: 'nat', name: CHAINS.farmSnat(farm.name), kind: 'ordered', rules: snatRules(farm, mask) });
    dispatch.push({ table: 'nat', chain: CHAINS.snat, rule: `${protoMatch(farm)}-m conntrack --ctorigdst ${farm.vip} ${farmComment} -j ${CHAINS.farmSnat(farm.name)}` });
  }
  return { vip: farm.vip, chains, dispatch };
}

/** The fixed head of the mangle layout: restore the connection's mark, mark new connections per
 * farm, save the choice so it sticks to the connection (the seed's CONNMARK restore/save). Only a
 * connection without a mark yet is dispatched: a packet stays NEW until the first reply, so a
 * retransmitted SYN (or a second UDP datagram) would otherwise draw again and save another
 * backend's mark over the one its NAT went to; a cut by mark then misses the flow. */
const setFamily = (family: IpFamily): 'inet' | 'inet6' => (family === 'ipv6' ? 'inet6' : 'inet');

function preChain(mask: number, family: IpFamily, direct: boolean): Chain {
  const m = formatMark(mask);
  const set = SETS.vips(setFamily(family));
  return {
    table: 'mangle', name: CHAINS.pre, kind: 'ordered', rules: [
      `-j CONNMARK --restore-mark --nfmask ${m} --ctmask ${m}`,
      `-m conntrack --ctstate NEW -m mark --mark 0x0/${m} -m set --match-set ${set} dst -j ${CHAINS.markFarms}`,
      // dsr/tunnel packets are untracked (NOTRACK): every one of them is placed on its own.
      ...(direct ? [`-m conntrack --ctstate UNTRACKED -m set --match-set ${set} dst -j ${CHAINS.markFarms}`] : []),
      `-m conntrack --ctstate NEW -m mark ! --mark 0x0/${m} -j CONNMARK --save-mark --nfmask ${m} --ctmask ${m}`,
    ],
  };
}

/**
 * What depends on every farm at once, yet is small: the VIP set, the bucket heads of the MARK
 * and DNAT dispatch (one rule per bucket in use), the refusal of over-limit connections.
 */
export function sharedParts(mask: number, farms: Iterable<FarmRender>, family: IpFamily): { chains: Chain[]; sets: Map<string, IpSet> } {
  const setFam = setFamily(family);
  const vips = new Set<string>();
  const used = new Set<number>();
  const natUsed = new Set<number>();
  let limits = false;
  let direct = false;
  for (const farm of farms) {
    vips.add(farm.vip);
    used.add(bucketOf(farm.vip));
    limits ||= farm.dispatch.some((d) => d.chain === LIMIT_DISPATCH.name);
    direct ||= farm.dispatch.some((d) => d.chain === NOTRACK_DISPATCH.name);
    // dsr/tunnel farms have no DNAT dispatch: their bucket needs no nat chain of its own.
    if (farm.dispatch.some((d) => d.table === 'nat' && d.chain !== CHAINS.snat)) natUsed.add(bucketOf(farm.vip));
  }
  const buckets = [...used].sort((a, b) => a - b);
  const natBuckets = [...natUsed].sort((a, b) => a - b);
  const sets = new Map<string, IpSet>([[SETS.vips(setFam), { name: SETS.vips(setFam), type: 'hash:ip', family: setFam, members: [...vips].sort() }]]);
  const bucketJump = (k: number, to: string) => `${bucketMatch(family, k)} -j ${to}`;
  const chains: Chain[] = [
    preChain(mask, family, direct),
    { table: 'mangle', name: CHAINS.markFarms, kind: 'ordered', rules: buckets.map((k) => bucketJump(k, CHAINS.markBucket(k))) },
    // nat sees only the first packet of each connection, but every connection of the box.
    { table: 'nat', name: CHAINS.dnat, kind: 'ordered', rules: [`-m set ! --match-set ${SETS.vips(setFam)} dst -j RETURN`, ...natBuckets.map((k) => bucketJump(k, CHAINS.dnatBucket(k)))] },
  ];
  if (limits) {
    const unreachable = family === 'ipv6' ? 'icmp6-port-unreachable' : 'icmp-port-unreachable';
    chains.push({ table: 'filter', name: CHAINS.refuse, kind: 'ordered', rules: ['-p tcp -j REJECT --reject-with tcp-reset', `-j REJECT --reject-with ${unreachable}`] });
  }
  return { chains, sets };
}

/** Assembles the whole ruleset from per-farm renders (cached by the caller when unchanged). */
export function assembleRuleset(mask: number, farms: readonly FarmRender[], family: IpFamily = 'ipv4'): Ruleset {
  const chains = new Map<string, Chain>();
  const add = (chain: Chain) => chains.set(chainKey(chain.table, chain.name), chain);
  const shared = sharedParts(mask, farms, family);
  shared.chains.forEach(add);
  const dispatchChains = new Map<string, { table: Table; rules: string[] }>(DISPATCH_CHAINS.map(({ table, name }) => [name, { table, rules: [] as string[] }]));
  for (const farm of farms) {
    farm.chains.forEach(add);
    for (const d of farm.dispatch) {
      const chain = dispatchChains.get(d.chain) ?? { table: d.table, rules: [] };
      chain.rules.push(d.rule);
      dispatchChains.set(d.chain, chain);
    }
  }
  for (const [name, { table, rules }] of dispatchChains) add({ table, name, kind: 'set', rules });
  return { chains, jumps: jumpsFor(chains), sets: shared.sets };
}

export function renderRuleset(desired: DesiredState, family: IpFamily = 'ipv4'): Ruleset {
  return assembleRuleset(desired.markMask, desired.farms.map((farm) => renderFarm(farm, desired.markMask, desired.logGroup)), family);
}

/**
 * What `ha-agent render` prints: the iptables-restore input of the IPv4 farms, then, when there
 * are IPv6 farms, the ip6tables-restore input of theirs after a comment line (each family is its
 * own tool and its own transaction).
 */
export function renderIptables(desired: DesiredState): { ipv4: string; ipv6: string | undefined; ipsets: string } {
  const v6 = desired.farms.some((farm) => farm.family === 'ipv6') ? renderRuleset(ofFamily(desired, 'ipv6'), 'ipv6') : undefined;
  const v4 = renderRuleset(ofFamily(desired, 'ipv4'), 'ipv4');
  const sets = [...(v4.sets?.values() ?? []), ...(v6?.sets?.values() ?? [])];
  return { ipv4: formatRestore(v4), ipv6: v6 && formatRestore(v6), ipsets: formatIpsetRestore(sets) };
}

/** `ipset restore` input that creates the sets (existing ones kept) and adds their members. */
export function formatIpsetRestore(sets: Iterable<IpSet>): string {
  const lines: string[] = [];
  for (const set of sets) {
    lines.push(`create ${set.name} ${set.type} family ${set.family} -exist`);
    for (const member of set.members) lines.push(`add ${set.name} ${member} -exist`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** The whole ruleset as iptables-restore input for a kernel that has none of it yet. */
export function formatRestore(ruleset: Ruleset): string {
  const lines: string[] = [];
  for (const table of TABLES) {
    const chains = [...ruleset.chains.values()].filter((c) => c.table === table);
    const jumps = ruleset.jumps.filter((j) => j.table === table);
    // raw is written only while a farm has a helper, so rulesets without one read as before.
    if (table === 'raw' && chains.length === 0 && jumps.length === 0) continue;
    lines.push(`*${table}`);
    for (const chain of chains) lines.push(`:${chain.name} - [0:0]`);
    for (const chain of chains) for (const rule of chain.rules) lines.push(`-A ${chain.name} ${rule}`);
    for (const jump of jumps) lines.push(`-I ${jump.from} 1 -j ${jump.to}`);
    lines.push('COMMIT');
  }
  return `${lines.join('\n')}\n`;
}
