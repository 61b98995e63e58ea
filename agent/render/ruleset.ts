// The iptables ruleset as data: the agent's own chains and the jumps into them from built-in chains.

/** raw holds only the conntrack helper attachments and the NOTRACK of dsr/tunnel VIPs, each only
 * while some farm needs it. */
export type Table = 'raw' | 'mangle' | 'nat' | 'filter';
export const TABLES: readonly Table[] = ['raw', 'mangle', 'nat', 'filter'];

/**
 * `ordered` chains are rewritten whole when they change (a farm's MARK chain: order matters);
 * `set` chains hold one independent rule per farm and change rule by rule, so adding a farm
 * does not reset the other farms' counters.
 */
export type ChainKind = 'ordered' | 'set';

export interface Chain {
  readonly table: Table;
  readonly name: string;
  readonly kind: ChainKind;
  /** Each rule as iptables-save prints it, without the leading "-A <chain> ". */
  readonly rules: readonly string[];
}

export interface Jump {
  readonly table: Table;
  readonly from: string;
  readonly to: string;
}

/** An ipset the rules match on: created, filled and destroyed with them (ipset restore). */
export interface IpSet {
  readonly name: string;
  readonly type: 'hash:ip';
  readonly family: 'inet' | 'inet6';
  readonly members: readonly string[];
}

export interface Ruleset {
  readonly chains: ReadonlyMap<string, Chain>;
  readonly jumps: readonly Jump[];
  /** The ipsets the dispatch matches on (absent: none, as read back from iptables-save alone). */
  readonly sets?: ReadonlyMap<string, IpSet>;
}

export const chainKey = (table: Table, name: string): string => `${table}/${name}`;
export const jumpKey = (jump: Jump): string => `${jump.table}/${jump.from}->${jump.to}`;

/** Names of the agent's chains. Per-farm names stay within iptables' 28 characters (4 + 24). */
export const CHAINS = {
  pre: 'HAGENT-PRE',
  markFarms: 'HAGENT-FARMS',
  dnat: 'HAGENT-DNAT',
  snat: 'HAGENT-SNAT',
  reject: 'HAGENT-REJECT',
  helpers: 'HAGENT-HELPERS',
  /** raw: dsr/tunnel VIP traffic, both directions, kept out of conntrack. */
  notrack: 'HAGENT-NOTRACK',
  /** filter: new connections of farms with limits or max_conns, to their limit chains. */
  limits: 'HAGENT-LIMITS',
  /** filter: what an over-limit connection gets with action reject (a reset, else ICMP). */
  refuse: 'HAGENT-REFUSE',
  /** The dispatch split by VIP: bucket k of the MARK dispatch and of the DNAT dispatch. */
  markBucket: (k: number) => `HAGENT-FARMS-${k}`,
  dnatBucket: (k: number) => `HAGENT-DNAT-${k}`,
  farmMark: (farm: string) => `HAM-${farm}`,
  farmDnat: (farm: string) => `HAD-${farm}`,
  farmSnat: (farm: string) => `HAS-${farm}`,
  farmReject: (farm: string) => `HAR-${farm}`,
  farmLimit: (farm: string) => `HAL-${farm}`,
  /** Sub-chain i (0-31, one base-32 digit) of a hash farm's bucket -> mark step (iptables-buckets.ts). */
  farmBuckets: (farm: string, i: number) => `HB${i.toString(32)}-${farm}`,
} as const;

/**
 * Buckets of the VIP split: a farm's dispatch rules sit in the chain of its VIP's bucket, chosen
 * by the low 5 bits of the VIP (one masked compare per bucket, which iptables-nft runs natively,
 * where an ipset match per bucket runs through the xtables compatibility layer), so a new packet
 * walks at most BUCKETS compares and its bucket's farms (about 2*sqrt(n) rules at n = 1000)
 * instead of one rule per farm. VIPs handed out in sequence fill the buckets evenly; VIPs that
 * all share their low bits share a bucket, which is no worse than one chain. Fixed, so a farm
 * added or removed never moves another farm's rules.
 */
export const BUCKETS = 32;

/** The agent's ipsets (ipset names are one space per network namespace, across families). */
export const SETS = {
  prefix: (family: 'inet' | 'inet6') => (family === 'inet' ? 'ha-agent-' : 'ha-agent6-'),
  /** Every VIP of the family: packets to no VIP leave the dispatch after one rule. */
  vips: (family: 'inet' | 'inet6') => `${SETS.prefix(family)}vips`,
} as const;

/** Whether an ipset is one the agent owns (and so may flush or destroy). */
export const isOwnedSet = (name: string): boolean => /^ha-agent6?-vips$/.test(name);

/** Whether a chain name is one the agent owns (and so may flush or delete). */
export const isOwnedChain = (name: string): boolean => /^(HAGENT-[A-Z]+(-\d{1,2})?|HA[MDSRL]-[A-Za-z0-9_-]{1,24}|HB[0-9a-v]-[A-Za-z0-9_-]{1,24})$/.test(name);

/** The shared dispatch chains (kind `set`): one independent rule per farm, in this order (the
 * MARK and DNAT dispatch are split into bucket chains, see BUCKETS). */
export const DISPATCH_CHAINS: readonly { readonly table: Table; readonly name: string }[] = [
  { table: 'nat', name: CHAINS.snat },
  { table: 'filter', name: CHAINS.reject },
];

/** Chains of kind `set` (one independent rule per farm): the dispatch chains and their buckets. */
export function isSetChain(name: string): boolean {
  return DISPATCH_CHAINS.some((c) => c.name === name) || name === CHAINS.helpers || name === CHAINS.notrack || name === CHAINS.limits || /^HAGENT-(FARMS|DNAT)-\d{1,2}$/.test(name);
}

/** Attaches conntrack helpers (CT --helper) to new connections before conntrack confirms them:
 * there only while some farm has a helper, so a ruleset without one is as it always was. */
export const HELPER_DISPATCH = { table: 'raw', name: CHAINS.helpers } as const satisfies { table: Table; name: string };
const HELPER_JUMP: Jump = { table: 'raw', from: 'PREROUTING', to: CHAINS.helpers };

/** The NOTRACK of dsr/tunnel farms: there only while some farm is dsr or tunnel. */
export const NOTRACK_DISPATCH = { table: 'raw', name: CHAINS.notrack } as const satisfies { table: Table; name: string };
const NOTRACK_JUMP: Jump = { table: 'raw', from: 'PREROUTING', to: CHAINS.notrack };

/** The chains the agent owns in raw (where other software's HAGENT-looking names are not ours). */
export const RAW_CHAINS: readonly string[] = [CHAINS.helpers, CHAINS.notrack];

/** The limits' dispatch: there only while some farm has limits or max_conns. */
export const LIMIT_DISPATCH = { table: 'filter', name: CHAINS.limits } as const satisfies { table: Table; name: string };
const LIMIT_JUMPS: readonly Jump[] = [
  { table: 'filter', from: 'INPUT', to: CHAINS.limits },
  { table: 'filter', from: 'FORWARD', to: CHAINS.limits },
];

/** The jumps a ruleset with these chains needs: the fixed ones, raw's while it has its chain,
 * filter's to the limits while there are some. */
export function jumpsFor(chains: ReadonlyMap<string, Chain>): readonly Jump[] {
  const helpers = chains.has(chainKey(HELPER_DISPATCH.table, HELPER_DISPATCH.name));
  const limits = chains.has(chainKey(LIMIT_DISPATCH.table, LIMIT_DISPATCH.name));
  const notrack = chains.has(chainKey(NOTRACK_DISPATCH.table, NOTRACK_DISPATCH.name));
  if (!helpers && !limits && !notrack) return JUMPS;
  return [...(helpers ? [HELPER_JUMP] : []), ...(notrack ? [NOTRACK_JUMP] : []), ...JUMPS, ...(limits ? LIMIT_JUMPS : [])];
}

export const JUMPS: readonly Jump[] = [
  { table: 'mangle', from: 'PREROUTING', to: CHAINS.pre },
  { table: 'nat', from: 'PREROUTING', to: CHAINS.dnat },
  { table: 'nat', from: 'POSTROUTING', to: CHAINS.snat },
  { table: 'filter', from: 'INPUT', to: CHAINS.reject },
  { table: 'filter', from: 'FORWARD', to: CHAINS.reject },
];

export function emptyRuleset(): Ruleset {
  return { chains: new Map(), jumps: [] };
}
