// Which ruleset transactions concern the agent: changes to its own nft table, or to its iptables
// chains and the jumps into them from the built-in chains. Everything else (Docker, kube-proxy,
// a firewall) costs reading the event and nothing more. Pure, but stateful: it remembers the
// handles of the jumps into agent chains, since a deleted rule is printed by handle only.

import { tableRef } from '../render/nft-model.js';
import { JUMPS, isOwnedChain } from '../render/ruleset.js';
import type { ChangedObject } from './netfilter.js';
import type { NftEvent, NftTransaction } from './nft-events.js';

/** The agent's objects in the kernel, for one driver. */
export interface DriftScope {
  /** nftables driver: the tables the agent owns, one per address family ('ip ha_agent', 'ip6 ha_agent'). */
  readonly nftTables?: readonly { readonly family: string; readonly table: string }[];
  /** iptables driver (iptables-nft): the families its tables live in ('ip' for iptables, 'ip6' for ip6tables). */
  readonly iptablesFamilies?: readonly string[];
  /** Chains the agent owns in the iptables tables. */
  readonly ownedChain?: (name: string) => boolean;
  /** Built-in chains holding the agent's jumps, as "table/chain" (e.g. "mangle/PREROUTING"). */
  readonly hookChains?: readonly string[];
}

/** The scope of the agent's nftables or iptables driver, from the render modules' names. */
export function agentScope(driver: 'nftables' | 'iptables'): DriftScope {
  switch (driver) {
    case 'nftables':
      return { nftTables: (['ip', 'ip6'] as const).map((family) => ({ family, table: tableRef(family).split(' ')[1]! })) };
    case 'iptables':
      return { iptablesFamilies: ['ip', 'ip6'], ownedChain: isOwnedChain, hookChains: [...new Set(JUMPS.map((j) => `${j.table}/${j.from}`))] };
  }
}

/** What in a foreign transaction touched the agent. */
export interface Concern {
  /** The events on the agent's objects. */
  readonly events: readonly NftEvent[];
  /** One line each, for the log: "delete rule ip mangle HAGENT-PRE handle 4". */
  readonly reasons: readonly string[];
}

export class DriftFilter {
  /** "family/table/chain" -> handles of its rules that jump into agent chains; absent: not known. */
  private readonly jumps = new Map<string, Set<number>>();
  private readonly hookChains: ReadonlySet<string>;
  private readonly jumpTarget: RegExp | undefined;

  constructor(private readonly scope: DriftScope) {
    this.hookChains = new Set(scope.hookChains ?? []);
    this.jumpTarget = scope.ownedChain ? /\b(?:jump|goto) (\S+)/ : undefined;
  }

  /**
   * Learns from any transaction (the agent's own too, so jumps it inserts are known) and
   * returns what concerns the agent, or null. A change nft printed unreadably (or, for the nft
   * table, not at all) concerns the agent: what it touched is unknown.
   */
  examine(tx: NftTransaction): Concern | null {
    const events: NftEvent[] = [];
    const reasons: string[] = [];
    for (const event of tx.events) {
      if (this.touchesAgent(event)) {
        events.push(event);
        reasons.push(describeEvent(event));
      }
    }
    if (tx.unreadable > 0) reasons.push(`${tx.unreadable} change(s) nft printed unreadably`);
    // Only the nft table has interval maps, whose changes nft may leave unprinted; the native
    // listener prints every change, so its empty transactions changed nothing.
    else if (tx.events.length === 0 && this.scope.nftTables && !tx.complete) reasons.push('a change nft did not print (an interval map element?)');
    return reasons.length > 0 ? { events, reasons } : null;
  }

  /** Jump handles read from `nft -a list chain`, for a hook chain the monitor saw no adds in. */
  seedHookChain(table: string, chain: string, listing: string | null, family = this.scope.iptablesFamilies?.[0] ?? 'ip'): void {
    const handles = new Set<number>();
    for (const line of (listing ?? '').split('\n')) {
      const handle = / # handle (\d+)$/.exec(line);
      if (handle && this.jumpsToAgent(line)) handles.add(Number(handle[1]));
    }
    this.jumps.set(`${family}/${table}/${chain}`, handles);
  }

  private touchesAgent(event: NftEvent): boolean {
    const { nftTables = [], iptablesFamilies = [], ownedChain } = this.scope;
    if (nftTables.some((t) => event.family === t.family && event.table === t.table)) return true;
    if (!ownedChain || !iptablesFamilies.includes(event.family)) return false;
    if (event.object === 'table') {
      // The agent's chains and jumps go with a deleted table (its hook chains name the tables).
      const hooked = [...this.hookChains].some((c) => c.startsWith(`${event.table}/`));
      if (event.kind === 'delete' && hooked) {
        const prefix = `${event.family}/${event.table}/`;
        for (const key of this.jumps.keys()) if (key.startsWith(prefix)) this.jumps.set(key, new Set());
        return true;
      }
      return false;
    }
    if (event.object !== 'chain' && event.object !== 'rule') return false;
    const chain = event.chain!;
    if (ownedChain(chain)) return true;
    if (!this.hookChains.has(`${event.table}/${chain}`)) return false;
    const key = `${event.family}/${event.table}/${chain}`;
    if (event.object === 'chain') {
      // A policy change re-adds a built-in chain: not the agent's. Its deletion takes the jumps.
      if (event.kind === 'add') return false;
      const had = this.jumps.get(key);
      this.jumps.set(key, new Set());
      return had === undefined || had.size > 0;
    }
    const known = this.jumps.get(key);
    if (event.kind === 'add') {
      if (!this.jumpsToAgent(event.rule ?? '')) return false;
      if (event.handle !== undefined) this.jumps.set(key, (known ?? new Set()).add(event.handle));
      return true;
    }
    // A deleted rule is printed by handle only: ours if it is a known jump, or if none are known.
    if (known === undefined || event.handle === undefined) return true;
    return known.delete(event.handle);
  }

  private jumpsToAgent(rule: string): boolean {
    const target = this.jumpTarget?.exec(rule)?.[1];
    return target !== undefined && this.scope.ownedChain!(target);
  }
}

/**
 * The objects of the agent's nft tables that these events changed, so that a repair can rewrite
 * only them; null when something else changed (a table, the iptables chains, a change that was
 * not printed) and the whole ruleset must be read back. `reasons` beyond the events are changes
 * whose object is unknown.
 */
export function changedObjects(scope: DriftScope, events: readonly NftEvent[], reasons: readonly string[]): ChangedObject[] | null {
  if (events.length === 0 || reasons.length !== events.length) return null;
  const found = new Map<string, ChangedObject>();
  for (const e of events) {
    if (!scope.nftTables?.some((t) => t.family === e.family && t.table === e.table)) return null;
    let kind: ChangedObject['kind'];
    let name: string | undefined;
    let itself: boolean;
    switch (e.object) {
      case 'chain': case 'rule': kind = 'chain'; name = e.chain; itself = e.object === 'chain'; break;
      case 'set': case 'element': kind = 'set'; name = e.name; itself = e.object === 'set'; break;
      case 'table': case 'flowtable': case 'object': return null;
    }
    if (name === undefined) return null;
    const key = `${e.family} ${kind} ${name}`;
    // The last word on the object itself wins (deleted and added again is there); a rule or an
    // element changes nothing about whether it exists.
    const deleted = itself ? e.kind === 'delete' : found.get(key)?.deleted ?? false;
    found.set(key, { family: e.family, kind, name, deleted });
  }
  return [...found.values()];
}

/** An event as one readable line, as nft would print it without the statements. */
export function describeEvent(e: NftEvent): string {
  const what = e.object === 'rule' ? `rule ${e.family} ${e.table} ${e.chain}`
    : e.object === 'chain' ? `chain ${e.family} ${e.table} ${e.chain}`
    : e.object === 'table' ? `table ${e.family} ${e.table}`
    : `${e.object} ${e.family} ${e.table} ${e.name}`;
  return `${e.verb} ${what}${e.handle === undefined ? '' : ` handle ${e.handle}`}${e.rule ? `: ${e.rule}` : ''}`;
}
