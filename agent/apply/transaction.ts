// The iptables-restore --noflush input that turns the applied ruleset into the desired one,
// touching only chains that differ (so untouched farms keep their counters). Pure.

import { normalizeRule } from './iptables-save.js';
import { TABLES, chainKey, jumpKey, type Ruleset, type Table } from '../render/ruleset.js';

export interface Transaction {
  readonly text: string;
  /** Chains flushed and rewritten or created ("table/name"). */
  readonly rewritten: readonly string[];
  /** Chains deleted. */
  readonly deleted: readonly string[];
}

interface TableOps {
  declare: string[];
  remove: string[];
  append: string[];
  destroy: string[];
}

/**
 * Returns null when there is nothing to do. Otherwise one text for all tables; iptables-nft
 * commits it as a single kernel transaction, and a failing line applies nothing at all.
 */
export function buildTransaction(applied: Ruleset, desired: Ruleset, scope?: ReadonlySet<string>): Transaction | null {
  const ops = new Map<Table, TableOps>(TABLES.map((t) => [t, { declare: [], remove: [], append: [], destroy: [] }]));
  const rewritten: string[] = [];
  const deleted: string[] = [];

  // With a scope (the chains a change touched), the rest is known equal and is not compared.
  const desiredChains = scope ? [...scope].flatMap((key) => desired.chains.get(key) ?? []) : desired.chains.values();
  for (const chain of desiredChains) {
    const key = chainKey(chain.table, chain.name);
    const before = applied.chains.get(key);
    const t = ops.get(chain.table)!;
    if (!before || (chain.kind === 'ordered' && !sameRules(before.rules, chain.rules))) {
      // Declaring a chain under --noflush creates it, or flushes it when it exists.
      t.declare.push(`:${chain.name} - [0:0]`);
      for (const rule of chain.rules) t.append.push(`-A ${chain.name} ${rule}`);
      rewritten.push(key);
    } else if (chain.kind === 'set' && before.rules !== chain.rules) {
      const { added, removed } = multisetDiff(before.rules, chain.rules);
      for (const rule of removed) t.remove.push(`-D ${chain.name} ${rule}`);
      for (const rule of added) t.append.push(`-A ${chain.name} ${rule}`);
    }
  }
  const appliedChains = scope ? [...scope].flatMap((key) => applied.chains.get(key) ?? []) : applied.chains.values();
  for (const chain of appliedChains) {
    const key = chainKey(chain.table, chain.name);
    if (desired.chains.has(key)) continue;
    const t = ops.get(chain.table)!;
    t.declare.push(`:${chain.name} - [0:0]`);
    t.destroy.push(`-X ${chain.name}`);
    deleted.push(key);
  }
  const appliedJumps = new Set(applied.jumps.map(jumpKey));
  const desiredJumps = new Set(desired.jumps.map(jumpKey));
  for (const jump of desired.jumps) {
    // Jumps go first in the built-in chain, as kube-proxy's do, ahead of other software's rules.
    if (!appliedJumps.has(jumpKey(jump))) ops.get(jump.table)!.append.push(`-I ${jump.from} 1 -j ${jump.to}`);
  }
  for (const jump of applied.jumps) {
    if (!desiredJumps.has(jumpKey(jump))) ops.get(jump.table)!.remove.push(`-D ${jump.from} -j ${jump.to}`);
  }

  const lines: string[] = [];
  for (const table of TABLES) {
    const t = ops.get(table)!;
    if (t.declare.length + t.remove.length + t.append.length + t.destroy.length === 0) continue;
    // References are dropped (-D) before the chains they point to are deleted (-X).
    lines.push(`*${table}`, ...t.declare, ...t.remove, ...t.append, ...t.destroy, 'COMMIT');
  }
  return lines.length === 0 ? null : { text: `${lines.join('\n')}\n`, rewritten, deleted };
}

/** Equal as the kernel sees them: probabilities compare in their quantized form. */
function sameRules(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  return a.length === b.length && a.every((rule, i) => rule === b[i] || normalizeRule(rule) === normalizeRule(b[i]!));
}

function multisetDiff(before: readonly string[], after: readonly string[]): { added: string[]; removed: string[] } {
  const counts = new Map<string, number>();
  for (const rule of before) counts.set(rule, (counts.get(rule) ?? 0) + 1);
  const added: string[] = [];
  for (const rule of after) {
    const n = counts.get(rule) ?? 0;
    if (n > 0) counts.set(rule, n - 1);
    else added.push(rule);
  }
  const removed = [...counts].flatMap(([rule, n]) => Array<string>(n).fill(rule));
  return { added, removed };
}
