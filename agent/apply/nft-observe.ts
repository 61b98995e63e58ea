// Reads the agent's table back from `nft -j -s list table ip ha_agent` (or `ip6 ha_agent`; start-up
// adoption, drift checks) and compares it with what was applied. Pure: JSON text in, state and differences out.

import { createHash, type Hash } from 'node:crypto';
import { formatMark } from '../plan/marks.js';
import { NFT_TABLE, parseDigestTag, type BaseHook, type NftFamily, type NftObjectKind, type NftState } from '../render/nft-model.js';

export interface NftObserved extends NftState {
  readonly present: boolean;
  readonly chains: ReadonlyMap<string, { readonly digest: string; readonly base?: BaseHook; readonly rules: number }>;
  readonly sets: ReadonlyMap<string, { readonly kind: NftObjectKind }>;
  /** "chain X" / "set X" -> a digest of the object as the kernel holds it, without handles,
   * counters or dynamic set contents: equal snapshots mean nothing was changed behind the agent's back. */
  readonly snapshot: ReadonlyMap<string, string>;
}

export const ABSENT: NftObserved = { present: false, chains: new Map(), sets: new Map(), elements: new Map(), snapshot: new Map() };

/** A chain whose first rule's tag is missing or does not match its rule count. */
const UNKNOWN_DIGEST = 'unknown';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);

function keyText(key: unknown, markKeys: boolean): string | undefined {
  const inner = obj(key)?.elem ? obj(obj(key)!.elem)?.val : key;
  if (typeof inner === 'number') return markKeys ? formatMark(inner) : String(inner);
  if (typeof inner === 'string') return inner;
  const range = obj(inner)?.range;
  if (Array.isArray(range) && range.length === 2) return `${String(range[0])}-${String(range[1])}`;
  const concat = obj(inner)?.concat;
  if (!Array.isArray(concat)) return undefined;
  const parts = concat.map((part) => keyText(part, false));
  return parts.every((p) => p !== undefined) ? parts.join(' . ') : undefined;
}

function verdictText(value: unknown): string | undefined {
  for (const kind of ['goto', 'jump'] as const) {
    const target = obj(obj(value)?.[kind])?.target;
    if (typeof target === 'string') return `${kind} ${target}`;
  }
  return undefined;
}

function hookOf(chain: Json): BaseHook | undefined {
  if (typeof chain.hook !== 'string') return undefined;
  return { type: chain.type as BaseHook['type'], hook: chain.hook as BaseHook['hook'], priority: Number(chain.prio), priorityName: String(chain.prio) };
}

const strip = (item: Json, drop: readonly string[]): string =>
  JSON.stringify(Object.fromEntries(Object.entries(item).filter(([k]) => !drop.includes(k))));

/** What is kept of an object's listing: its digest (a snapshot holds one per chain, set and map,
 * never the listing itself, which is tens of MB at the largest sizes). */
const digestOf = (text: string): string => createHash('sha256').update(text).digest('base64');

const NFT_LIST_START = /^\s*\{\s*"nftables"\s*:\s*\[/;

/**
 * Calls `each` with the items of nft's top-level "nftables" list one at a time: parsed whole, the
 * listing of a large table is a tree many times the size of its text, alive all at once. Throws
 * on text that is not nft's JSON, as JSON.parse would.
 */
export function eachNftItem(text: string, each: (item: unknown) => void): void {
  const head = NFT_LIST_START.exec(text);
  if (!head) {
    // Not the shape nft prints (another key first, no list): parsed whole, for the same errors.
    const items = (JSON.parse(text) as { nftables?: unknown[] }).nftables;
    if (!Array.isArray(items)) throw new Error('not nft JSON output: no "nftables" list');
    for (const item of items) each(item);
    return;
  }
  let depth = 0;
  let start = -1;
  let inString = false;
  let i = head[0].length;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (depth++ === 0) start = i;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) break;
      if (--depth === 0) each(JSON.parse(text.slice(start, i + 1)));
    }
  }
  if (depth !== 0 || inString || !/^\]\s*\}\s*$/.test(text.slice(i))) throw new Error('not nft JSON output: the "nftables" list is not closed');
}

/** Throws on text that is not nft's JSON; an empty list means an empty table. */
export function parseNftJson(text: string, family: NftFamily = 'ip'): NftObserved {
  interface SeenChain { readonly base?: BaseHook; rules: number; firstComment?: string; readonly hash: Hash }
  const chains = new Map<string, SeenChain>();
  const sets = new Map<string, { kind: NftObjectKind }>();
  const elements = new Map<string, Map<string, string>>();
  const dirtyMaps = new Set<string>();
  const snapshot = new Map<string, string>();
  let present = false;
  eachNftItem(text, (raw) => {
    const item = obj(raw) ?? {};
    const [kind, body] = Object.entries(item)[0] ?? [];
    const o = obj(body);
    if (!o || o.family !== family || (kind !== 'table' && o.table !== NFT_TABLE) || (kind === 'table' && o.name !== NFT_TABLE)) return;
    if (kind === 'table') present = true;
    else if (kind === 'chain') {
      const base = hookOf(o);
      chains.set(String(o.name), { ...(base ? { base } : {}), rules: 0, hash: createHash('sha256').update(strip(o, ['handle'])) });
    } else if (kind === 'rule') {
      const chain = chains.get(String(o.chain));
      if (!chain) return;
      if (chain.rules++ === 0 && typeof o.comment === 'string') chain.firstComment = o.comment;
      chain.hash.update(`\n${strip(o, ['handle'])}`);
    } else if (kind === 'ct helper') {
      sets.set(String(o.name), { kind });
      snapshot.set(`${kind} ${String(o.name)}`, digestOf(strip(o, ['handle'])));
    } else if (kind === 'counter') {
      // Named counters of the limits: what they count moves; only that they are there is applied.
      sets.set(String(o.name), { kind });
      snapshot.set(`${kind} ${String(o.name)}`, digestOf(strip(o, ['handle', 'packets', 'bytes'])));
    } else if (kind === 'set' || kind === 'map') {
      const name = String(o.name);
      sets.set(name, { kind });
      // A set's contents are the clients the kernel learnt (persistence), not something applied.
      snapshot.set(`${kind} ${name}`, digestOf(strip(o, kind === 'set' ? ['handle', 'elem'] : ['handle'])));
      if (kind === 'map') {
        const found = new Map<string, string>();
        for (const entry of Array.isArray(o.elem) ? o.elem : []) {
          const pair = Array.isArray(entry) ? entry : [];
          const key = keyText(pair[0], o.type === 'mark');
          const value = verdictText(pair[1]);
          if (key === undefined || value === undefined) dirtyMaps.add(name);
          else found.set(key, value);
        }
        elements.set(name, found);
      }
    }
  });
  const observed = new Map<string, { digest: string; base?: BaseHook; rules: number }>();
  for (const [name, chain] of chains) {
    const tag = parseDigestTag(chain.firstComment);
    // Copied out of the comment, so the tag holds no reference to the listing's text.
    const digest = tag && tag.rules === chain.rules ? Buffer.from(tag.digest).toString() : UNKNOWN_DIGEST;
    observed.set(name, { digest, rules: chain.rules, ...(chain.base ? { base: chain.base } : {}) });
    snapshot.set(`chain ${name}`, chain.hash.digest('base64'));
  }
  return { present, chains: observed, sets, elements, dirtyMaps, snapshot };
}

/** One difference: the object it concerns (for repair) and a line for people (for drift reports). */
export interface NftDifference {
  readonly kind: 'chain' | 'set' | 'map' | 'ct helper';
  readonly name: string;
  /** "<kind> <name>: <what differs>". */
  readonly message: string;
}

/** Differences between what the agent applied and what the kernel holds, one entry each. */
export function compareNft(applied: NftState, observed: NftObserved, baseline?: ReadonlyMap<string, string>): NftDifference[] {
  const out: NftDifference[] = [];
  const differs = (kind: NftDifference['kind'], name: string, what: string) => out.push({ kind, name, message: `${kind} ${name}: ${what}` });
  for (const [name, chain] of applied.chains) {
    const seen = observed.chains.get(name);
    if (!seen) differs('chain', name, 'missing from the kernel');
    else if (seen.digest !== chain.digest) differs('chain', name, `${seen.rules} rules in the kernel differ from what was applied`);
    else if ((seen.base?.priority ?? null) !== (chain.base?.priority ?? null) || seen.base?.hook !== chain.base?.hook) differs('chain', name, 'hook differs');
  }
  for (const name of observed.chains.keys()) if (!applied.chains.has(name)) differs('chain', name, 'in the kernel but not applied');
  for (const name of applied.sets.keys()) if (!observed.sets.has(name)) differs('set', name, 'missing from the kernel');
  for (const name of observed.sets.keys()) if (!applied.sets.has(name)) differs('set', name, 'in the kernel but not applied');
  for (const [map, wanted] of applied.elements) {
    if (!observed.sets.has(map)) continue;
    const have = observed.elements.get(map) ?? new Map<string, string>();
    const missing = [...wanted].filter(([k, v]) => have.get(k) !== v).length;
    const extra = [...have].filter(([k, v]) => wanted.get(k) !== v).length;
    if (observed.dirtyMaps?.has(map)) differs('map', map, 'holds elements the agent cannot read');
    else if (missing + extra > 0) differs('map', map, `${missing} elements missing, ${extra} unexpected`);
  }
  if (out.length === 0 && baseline) {
    for (const [key, text] of baseline) {
      if (observed.snapshot.get(key) === text) continue;
      // Snapshot keys are "<kind> <name>", as parseNftJson writes them (the kind may be two words).
      const at = key.lastIndexOf(' ');
      const [kind, name] = [key.slice(0, at) as NftDifference['kind'], key.slice(at + 1)];
      differs(kind, name, 'changed in the kernel since it was applied');
    }
  }
  return out;
}
