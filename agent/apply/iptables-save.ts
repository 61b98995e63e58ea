// Reads the agent's chains back out of iptables-save output, for start-up adoption and drift
// checks. Pure: text in, Ruleset out.

import { RAW_CHAINS, TABLES, chainKey, isOwnedChain, isSetChain, type Chain, type Jump, type Ruleset, type Table } from '../render/ruleset.js';

const KNOWN_TABLES = new Set<string>(TABLES);

/** In raw the agent owns only its helpers' and NOTRACK chains: other software's HAGENT-looking names there are not ours. */
const ownedIn = (table: Table, chain: string): boolean => (table === 'raw' ? RAW_CHAINS.includes(chain) : isOwnedChain(chain));

export function parseIptablesSave(text: string): Ruleset {
  const chains = new Map<string, { table: Table; name: string; rules: string[] }>();
  const jumps: Jump[] = [];
  let table: Table | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      const name = line.slice(1);
      table = KNOWN_TABLES.has(name) ? (name as Table) : undefined;
      continue;
    }
    if (!table) continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      if (ownedIn(table, name)) chains.set(chainKey(table, name), { table, name, rules: [] });
      continue;
    }
    if (!line.startsWith('-A ')) continue;
    const space = line.indexOf(' ', 3);
    const chain = line.slice(3, space < 0 ? undefined : space);
    const rule = space < 0 ? '' : line.slice(space + 1);
    const owned = chains.get(chainKey(table, chain));
    if (owned) {
      owned.rules.push(normalizeRule(rule));
    } else {
      const jump = /^-j (\S+)$/.exec(rule);
      if (jump && ownedIn(table, jump[1]!)) jumps.push({ table, from: chain, to: jump[1]! });
    }
  }
  const result = new Map<string, Chain>();
  for (const [key, c] of chains) result.set(key, { ...c, kind: isSetChain(c.name) ? 'set' : 'ordered' });
  return { chains: result, jumps };
}

/**
 * The kernel keeps statistic probabilities as a 31-bit fraction, so iptables-save prints
 * 0.33333333349 for the 0.33333333333 we wrote; compare them in that quantized form.
 */
export function normalizeRule(rule: string): string {
  return rule.replace(/--probability (\d+(?:\.\d+)?)/, (_, p: string) => `--probability ${quantizeProbability(Number(p))}`);
}

export function quantizeProbability(p: number): string {
  return (Math.round(p * 0x80000000) / 0x80000000).toFixed(11);
}
