// The `nft -f` transaction that turns one state of the agent's table into another, touching only
// chains whose digest differs and map elements that differ (untouched rules keep counters). Pure.

import { tableRef, elementText, hookText, ruleLines, type BaseHook, type NftModel, type NftState } from './nft-model.js';

export interface NftTransaction {
  readonly text: string;
  /** Chains created or flushed and refilled. */
  readonly rewritten: readonly string[];
  /** Chains and sets deleted. */
  readonly deleted: readonly string[];
}

const hookKey = (base: BaseHook | undefined): string => (base ? `${base.type}/${base.hook}/${base.priority}` : '-');
const sameHook = (a: { base?: BaseHook }, b: { base?: BaseHook }): boolean => hookKey(a.base) === hookKey(b.base);

/**
 * Returns null when the states already agree. The statements are ordered so every reference is
 * valid at each step of the one transaction: objects are declared before rules and elements use
 * them, and rules and elements that use an object are gone before it is deleted.
 */
export function diffNft(prev: NftState, next: NftModel): NftTransaction | null {
  const TABLE_REF = tableRef(next.family);
  const declare: string[] = [];
  const flush: string[] = [];
  const dropElements: string[] = [];
  const rules: string[] = [];
  const addElements: string[] = [];
  const destroy: string[] = [];
  const rewritten: string[] = [];
  const deleted: string[] = [];

  for (const set of next.sets.values()) {
    if (!prev.sets.has(set.name)) declare.push(`add ${set.kind} ${TABLE_REF} ${set.name} { ${set.spec} }`);
  }
  for (const chain of next.chains.values()) {
    const before = prev.chains.get(chain.name);
    if (before && before.digest === chain.digest && sameHook(before, chain)) continue;
    if (before && !sameHook(before, chain)) {
      // A hook cannot be changed in place; nothing jumps to a base chain, so it can be replaced.
      flush.push(`delete chain ${TABLE_REF} ${chain.name}`);
      rules.push(`add chain ${TABLE_REF} ${chain.name} { ${chain.base ? hookText(chain.base) : ''} }`);
    } else if (before) {
      flush.push(`flush chain ${TABLE_REF} ${chain.name}`);
    } else {
      declare.push(`add chain ${TABLE_REF} ${chain.name}${chain.base ? ` { ${hookText(chain.base)} }` : ''}`);
    }
    for (const { line, note } of ruleLines(chain)) {
      if (note) rules.push(`# ${note}`);
      rules.push(`add rule ${TABLE_REF} ${chain.name} ${line}`);
    }
    rewritten.push(chain.name);
  }
  for (const [map, wanted] of next.elements) {
    const had = prev.elements.get(map) ?? new Map<string, string>();
    if (prev.dirtyMaps?.has(map)) {
      flush.push(`flush map ${TABLE_REF} ${map}`);
      if (wanted.size > 0) addElements.push(`add element ${TABLE_REF} ${map} { ${[...wanted].map(([k, v]) => elementText(k, v)).join(', ')} }`);
      continue;
    }
    // A key whose value changes is deleted and added again: adding it over the old one fails.
    const drop = [...had].filter(([k, v]) => wanted.get(k) !== v).map(([k]) => k);
    const add = [...wanted].filter(([k, v]) => had.get(k) !== v);
    if (drop.length > 0) dropElements.push(`delete element ${TABLE_REF} ${map} { ${drop.join(', ')} }`);
    if (add.length > 0) addElements.push(`add element ${TABLE_REF} ${map} { ${add.map(([k, v]) => elementText(k, v)).join(', ')} }`);
  }
  // Sets and maps go before chains: the elements of a map being deleted (limit_dispatch when the
  // last farm with limits drops them) still point at chains being deleted, and the kernel refuses
  // to delete a chain a map element uses. No rule uses them by then: those are flushed above.
  for (const [name, set] of prev.sets) {
    if (next.sets.has(name)) continue;
    destroy.push(`delete ${set.kind} ${TABLE_REF} ${name}`);
    deleted.push(name);
  }
  for (const name of prev.chains.keys()) {
    if (next.chains.has(name)) continue;
    // Flushed first so chains being deleted may refer to each other and to sets being deleted.
    flush.push(`flush chain ${TABLE_REF} ${name}`);
    destroy.push(`delete chain ${TABLE_REF} ${name}`);
    deleted.push(name);
  }

  const body = [...declare, ...flush, ...dropElements, ...rules, ...addElements, ...destroy];
  if (body.length === 0) return null;
  // Idempotent, and creates the table when the kernel has none (first start, after removal).
  return { text: [`add table ${TABLE_REF}`, ...body, ''].join('\n'), rewritten, deleted };
}
