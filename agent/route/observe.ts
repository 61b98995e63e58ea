// What the kernel holds of the agent's routing state, from `ip -j rule show` (JSON) and
// `ip route show table all` (text: `ip -j` prints an encap route with two "dst" keys, the prefix
// and the tunnel's destination, which JSON.parse cannot keep apart). Only the agent's own
// preference and table range are read (plan.ts). Pure.

import {
  ROUTE_RULE_PREF, isOwnedTable, ruleText, type BackendRoute, type MarkRule,
} from './plan.js';

interface RuleJson {
  readonly priority?: number;
  readonly fwmark?: string;
  readonly fwmask?: string;
  readonly table?: string;
}

export function parseRules(json: string): Map<string, MarkRule> {
  const parsed: unknown = JSON.parse(json.trim() || '[]');
  if (!Array.isArray(parsed)) throw new Error('ip -j rule show did not print a list');
  const rules = new Map<string, MarkRule>();
  for (const entry of parsed as RuleJson[]) {
    if (entry.priority !== ROUTE_RULE_PREF || entry.fwmark === undefined || entry.table === undefined) continue;
    const table = Number(entry.table);
    if (!Number.isInteger(table) || !isOwnedTable(table)) continue;
    // ip leaves out fwmask when it is every bit.
    const rule: MarkRule = { mark: Number(entry.fwmark) >>> 0, mask: (entry.fwmask === undefined ? 0xffffffff : Number(entry.fwmask)) >>> 0, table };
    rules.set(ruleText(rule), rule);
  }
  return rules;
}

/** The default route of each of the agent's tables, from `ip [-6] route show table all`. */
export function parseRoutes(text: string): Map<number, BackendRoute> {
  const routes = new Map<number, BackendRoute>();
  for (const line of text.split('\n')) {
    const table = /\btable (\d+)\b/.exec(line);
    if (!table || !line.startsWith('default')) continue;
    const number = Number(table[1]);
    if (!isOwnedTable(number)) continue;
    const encap = /\bencap ip6? .*?\bdst (\S+)/.exec(line);
    const via = /\bvia (?:inet6? )?(\S+)/.exec(line);
    if (encap) routes.set(number, { table: number, via: 'tunnel', address: encap[1]! });
    else if (via) routes.set(number, { table: number, via: 'gateway', address: via[1]! });
    // Anything else in the agent's range (a route someone put there) is not ours to keep: listed
    // with an address nothing matches, so a repair replaces it and a verify reports it.
    else routes.set(number, { table: number, via: 'gateway', address: '(other)' });
  }
  return routes;
}
