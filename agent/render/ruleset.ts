// The iptables ruleset as data: the agent's own chains and the jumps into them from built-in chains.

/** raw holds only the conntrack helper attachments, and only while a farm has a helper. */
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

export interface Ruleset {
  readonly chains: ReadonlyMap<string, Chain>;
  readonly jumps: readonly Jump[];
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
  farmMark: (farm: string) => `HAM-${farm}`,
  farmDnat: (farm: string) => `HAD-${farm}`,
  farmSnat: (farm: string) => `HAS-${farm}`,
  farmReject: (farm: string) => `HAR-${farm}`,
} as const;

/** Whether a chain name is one the agent owns (and so may flush or delete). */
export const isOwnedChain = (name: string): boolean => /^(HAGENT-[A-Z]+|HA[MDSR]-[A-Za-z0-9_-]{1,24})$/.test(name);

/** The shared dispatch chains (kind `set`): one independent rule per farm, in this order. */
export const DISPATCH_CHAINS: readonly { readonly table: Table; readonly name: string }[] = [
  { table: 'mangle', name: CHAINS.markFarms },
  { table: 'nat', name: CHAINS.dnat },
  { table: 'nat', name: CHAINS.snat },
  { table: 'filter', name: CHAINS.reject },
];

/** Attaches conntrack helpers (CT --helper) to new connections before conntrack confirms them:
 * there only while some farm has a helper, so a ruleset without one is as it always was. */
export const HELPER_DISPATCH = { table: 'raw', name: CHAINS.helpers } as const satisfies { table: Table; name: string };
const HELPER_JUMP: Jump = { table: 'raw', from: 'PREROUTING', to: CHAINS.helpers };

/** The jumps a ruleset with these chains needs: the fixed ones, and raw's while it has its chain. */
export function jumpsFor(chains: ReadonlyMap<string, Chain>): readonly Jump[] {
  return chains.has(chainKey(HELPER_DISPATCH.table, HELPER_DISPATCH.name)) ? [HELPER_JUMP, ...JUMPS] : JUMPS;
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
