// The iptables ruleset as data: the agent's own chains and the jumps into them from built-in chains.

export type Table = 'mangle' | 'nat' | 'filter';
export const TABLES: readonly Table[] = ['mangle', 'nat', 'filter'];

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
