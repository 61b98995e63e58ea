// The agent's nftables table as data (chains, sets, map elements) and its `nft -f` text. Pure.

import { createHash } from 'node:crypto';

/**
 * The agent owns one table per address family, both named ha_agent: `ip` (IPv4 farms, as it always
 * was) and `ip6` (IPv6 farms), and never names any other. Two family tables rather than one `inet`
 * table keep the IPv4 table, its golden files and its drift checks exactly as they were; marks
 * are still one space, assigned over the farms of both.
 */
export type NftFamily = 'ip' | 'ip6';
export const NFT_TABLE = 'ha_agent';
export const tableRef = (family: NftFamily): string => `${family} ${NFT_TABLE}`;
export const TABLE_REF = tableRef('ip');

/** Names of the objects in the agent's table. */
export const NFT_NAMES = {
  /** Verdict maps keyed by VIP . protocol . port (interval: ranges), so a farm is a few elements. */
  farms: 'farm_dispatch',
  dnat: 'dnat_dispatch',
  down: 'down_dispatch',
  /** Verdict maps keyed by mark. Names carry a suffix: bare `snat` is an nft keyword. */
  marks: 'mark_restore',
  snat: 'snat_dispatch',
  /** Chooses a backend for a new connection: sets its mark in conntrack. */
  farm: (farm: string) => `farm_${farm}`,
  /** Copies the connection's mark onto each packet (the seed's --restore-mark). */
  restore: (farm: string) => `restore_${farm}`,
  /** The farm's conntrack helper object (`ct helper`), attached to its new connections. */
  helper: (farm: string) => `helper_${farm}`,
  /** Per backend, only for roundrobin and hash-srcip: what their vmap jumps to. */
  mark: (farm: string, mark: number) => `mark_${farm}_${mark.toString(16)}`,
  persist: (farm: string, mark: number) => `persist_${farm}_${mark.toString(16)}`,
  farmDnat: (farm: string) => `dnat_${farm}`,
  farmSnat: (farm: string) => `snat_${farm}`,
  farmDown: (farm: string) => `down_${farm}`,
  /** New connections of farms with limits or max_conns, by their original destination. */
  limits: 'limit_dispatch',
  farmLimit: (farm: string) => `limit_${farm}`,
  /** Where over-limit connections are refused with action reject: a reset, else ICMP. */
  refuse: 'refuse',
  /** dsr/tunnel (untracked): VIP . protocol . port -> the farm's direct chain. */
  direct: 'direct_dispatch',
  /** dsr/tunnel: VIP . protocol . port -> untrack, matched on destination and on source (replies). */
  notrack: 'notrack_dispatch',
  /** The raw-priority base chain that looks packets up in notrack_dispatch, and its target (bare `notrack` is an nft keyword). */
  notrackHook: 'raw_prerouting',
  untrack: 'untrack_vip',
  /** dsr/tunnel: sets every packet's mark from the hash (no conntrack to remember a choice). */
  farmDirect: (farm: string) => `direct_${farm}`,
  /** Named counters of what each limit refused. */
  overEstablished: (farm: string) => `over_established_${farm}`,
  overRate: (farm: string) => `over_rate_${farm}`,
  overBackend: (farm: string, mark: number) => `over_max_conns_${farm}_${mark.toString(16)}`,
} as const;

export interface BaseHook {
  readonly type: 'filter' | 'nat';
  readonly hook: 'prerouting' | 'postrouting' | 'input' | 'forward';
  /** Numeric, as `nft -j` reports it; `priorityName` is what the text shows. */
  readonly priority: number;
  readonly priorityName: string;
}

export interface NftRule {
  readonly text: string;
  readonly comment?: string;
  /** A `#` line printed before the rule: for readers only, never sent to the kernel. */
  readonly note?: string;
}

export interface NftChain {
  readonly name: string;
  readonly base?: BaseHook;
  readonly rules: readonly NftRule[];
  /** Of the hook and rules; written into the first rule's comment so a restarted agent can tell
   * which chains already hold what it wants (chain comments cannot be updated in place). */
  readonly digest: string;
}

/** Named objects of the table other than chains: sets, verdict maps, conntrack helpers. */
export type NftObjectKind = 'set' | 'map' | 'ct helper' | 'counter';

export interface NftSet {
  readonly name: string;
  readonly kind: NftObjectKind;
  /** The declaration body, e.g. "type mark : verdict;" or `type "ftp" protocol tcp;`. */
  readonly spec: string;
}

/** What a diff or a drift check reads of a chain: its digest and hook, never its rules. */
export interface NftChainState {
  readonly digest: string;
  readonly base?: BaseHook;
}

/** What a diff needs to know of the kernel side: enough to tell what to flush, add or delete. */
export interface NftState {
  readonly chains: ReadonlyMap<string, NftChainState>;
  readonly sets: ReadonlyMap<string, { readonly kind: NftObjectKind }>;
  /** map name -> element key -> element value, both as this module prints them. */
  readonly elements: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Maps whose elements could not be read back: flushed and refilled whole. */
  readonly dirtyMaps?: ReadonlySet<string>;
}

export interface NftModel extends NftState {
  /** Which of the agent's tables this is. */
  readonly family: NftFamily;
  readonly chains: ReadonlyMap<string, NftChain>;
  readonly sets: ReadonlyMap<string, NftSet>;
}

export function hookText(base: BaseHook): string {
  return `type ${base.type} hook ${base.hook} priority ${base.priorityName}; policy accept;`;
}

export function nftChain(name: string, rules: readonly NftRule[], base?: BaseHook): NftChain {
  const hash = createHash('sha256');
  hash.update(base ? hookText(base) : '-');
  for (const r of rules) hash.update(`\n${r.text}\0${r.comment ?? ''}`);
  return { name, rules, digest: hash.digest('hex').slice(0, 16), ...(base ? { base } : {}) };
}

const DIGEST_TAG = /(?:^| )ha-agent:(\d+):([0-9a-f]{16})$/;

function digestTag(chain: NftChain): string {
  return `ha-agent:${chain.rules.length}:${chain.digest}`;
}

/** The digest and rule count a first-rule comment claims, or undefined when it is not ours. */
export function parseDigestTag(comment: string | undefined): { rules: number; digest: string } | undefined {
  const match = comment === undefined ? null : DIGEST_TAG.exec(comment);
  return match ? { rules: Number(match[1]), digest: match[2]! } : undefined;
}

/** Quotes for nft: comments only ever hold names matching [A-Za-z0-9_-] and the digest tag. */
const quote = (text: string): string => `"${text.replace(/["\\]/g, '')}"`;

/** The rules of a chain as `nft` statements, the first one tagged with the chain's digest. */
export function ruleLines(chain: NftChain): { line: string; note?: string }[] {
  return chain.rules.map((rule, i) => {
    const comment = i === 0 ? [rule.comment, digestTag(chain)].filter(Boolean).join(' ') : rule.comment;
    return { line: `${rule.text}${comment ? ` comment ${quote(comment)}` : ''}`, ...(rule.note ? { note: rule.note } : {}) };
  });
}

export const elementText = (key: string, value: string): string => `${key} : ${value}`;

/** The whole table as one `nft -f` transaction that replaces whatever version of it the kernel holds. */
export function formatFull(model: NftModel, header = true): string {
  const ref = tableRef(model.family);
  const out: string[] = [
    ...(header ? [`# ha-agent nftables ruleset: replaces the table ${ref}, and nothing else, in one transaction.`] : []),
    `add table ${ref}`,
    `delete table ${ref}`,
    `table ${ref} {`,
  ];
  for (const set of model.sets.values()) {
    out.push(`\t${set.kind} ${set.name} {`);
    for (const part of set.spec.split(';').map((s) => s.trim()).filter(Boolean)) out.push(`\t\t${part}`);
    const elements = [...(model.elements.get(set.name) ?? new Map<string, string>())];
    if (elements.length > 0) {
      out.push('\t\telements = {');
      elements.forEach(([k, v], i) => out.push(`\t\t\t${elementText(k, v)}${i < elements.length - 1 ? ',' : ''}`));
      out.push('\t\t}');
    }
    out.push('\t}', '');
  }
  for (const chain of model.chains.values()) {
    out.push(`\tchain ${chain.name} {`);
    if (chain.base) out.push(`\t\t${hookText(chain.base)}`);
    for (const { line, note } of ruleLines(chain)) {
      if (note) out.push(`\t\t# ${note}`);
      out.push(`\t\t${line}`);
    }
    out.push('\t}', '');
  }
  if (out[out.length - 1] === '') out.pop();
  out.push('}');
  return `${out.join('\n')}\n`;
}
