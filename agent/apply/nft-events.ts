// `nft -a monitor` text -> typed ruleset events, grouped per kernel transaction. Pure.
//
// Text, not `nft -j monitor`: nft 1.0.6 prints no generation line in JSON mode, so neither the
// end of a transaction nor who wrote it can be told there. What the text output does (checked
// against the kernel, see the fixtures under test/apply/fixtures/):
// - each transaction ends with `# new generation N by process PID (COMM)`; COMM is the kernel's
//   15-byte task name ("iptables-restor"); iptables-restore commits once per table section;
// - a flush is never an event of its own: `nft flush table|chain` and `iptables -F` show as one
//   `delete rule ... handle N` per rule, `flush set` as one `delete element` per element;
// - `-a` puts the real handle last (`# handle N`); without it nft prints the insert position of
//   an added rule as `handle P` after the chain name, which is not the rule's handle;
// - elements of interval maps print as garbage (uninitialised memory, lines of hundreds of KB,
//   continued on tab-indented lines), and their deletion prints nothing: a transaction can
//   arrive as a bare generation line, though it changed something.

export type NftObject = 'table' | 'chain' | 'rule' | 'set' | 'element' | 'flowtable' | 'object';
/** What happened to the object. A flush is several deletes; a replace is a delete and an add. */
export type NftEventKind = 'add' | 'delete';

export interface NftEvent {
  readonly kind: NftEventKind;
  /** nft's verb as printed: add, insert, create, replace, delete, destroy. */
  readonly verb: string;
  readonly object: NftObject;
  readonly family: string;
  readonly table: string;
  /** The chain of a chain or rule event. */
  readonly chain?: string;
  /** The set or map of a set or element event; the name of a stateful object. */
  readonly name?: string;
  /** The kernel's handle, when nft printed it (rules; tables, chains and sets when added). */
  readonly handle?: number;
  /** A rule's statements as printed (rule adds only): tells what it jumps to. */
  readonly rule?: string;
}

export interface NftTransaction {
  readonly generation: number;
  /** The writer, as the kernel reports it; undefined when nft printed no process. */
  readonly pid?: number;
  readonly process?: string;
  readonly events: readonly NftEvent[];
  /** Lines that could not be read as events (or were too long to keep): their objects are unknown. */
  readonly unreadable: number;
  /** Every change of the transaction is among its events (the native listener prints them all;
   * nft leaves some unprinted): an empty one changed nothing. */
  readonly complete?: boolean;
}

/** nft's own notice that the netlink socket overflowed: transactions were missed. */
export const LOST_EVENTS_LINE = '# ERROR: We lost some netlink events!';

export type NftMonitorLine =
  | { readonly type: 'transaction'; readonly transaction: NftTransaction }
  | { readonly type: 'lost' };

const GENERATION = /^# new generation (\d+)(?: by process (\d+) \((.*)\))?$/;
const VERBS: Readonly<Record<string, NftEventKind>> = { add: 'add', insert: 'add', create: 'add', replace: 'add', new: 'add', delete: 'delete', destroy: 'delete' };
const OBJECTS: Readonly<Record<string, NftObject>> = {
  table: 'table', chain: 'chain', rule: 'rule', set: 'set', map: 'set', meter: 'set', element: 'element', flowtable: 'flowtable',
  counter: 'object', quota: 'object', limit: 'object', secmark: 'object', synproxy: 'object', 'ct helper': 'object', 'ct timeout': 'object', 'ct expectation': 'object',
};
const FAMILIES = new Set(['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev']);
const TRAILING_HANDLE = / # handle (\d+)$/;

/** A word's entry in a table: own keys only, so "constructor" or "toString" is no nft word. */
const lookup = <T>(table: Readonly<Record<string, T>>, word: string): T | undefined => (Object.hasOwn(table, word) ? table[word] : undefined);

/** Digits as a number, or undefined when they are none or pass 2^53 (garbage, not a kernel value). */
function wholeNumber(digits: string | undefined): number | undefined {
  const n = digits !== undefined && /^\d+$/.test(digits) ? Number(digits) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Collects event lines until the generation line that closes their transaction. */
export class NftEventParser {
  private events: NftEvent[] = [];
  private unreadable = 0;

  /** One line of output (without its newline): a closed transaction, a loss notice, or null. */
  push(line: string): NftMonitorLine | null {
    if (line.startsWith('#')) {
      const gen = GENERATION.exec(line);
      const generation = wholeNumber(gen?.[1]);
      if (gen && generation !== undefined) return { type: 'transaction', transaction: this.close(generation, wholeNumber(gen[2]), gen[3]) };
      if (line.startsWith(LOST_EVENTS_LINE)) return { type: 'lost' };
      this.unreadable++;
      return null;
    }
    // The tab-indented rest of a multi-line element event, or an empty line: nothing new.
    if (line === '' || /^\s/.test(line)) return null;
    const event = parseEvent(line);
    if (event) this.events.push(event);
    else this.unreadable++;
    return null;
  }

  /** A line that was dropped unread (over the reader's cap) belongs to the open transaction. */
  skipped(): void {
    this.unreadable++;
  }

  /** Forgets a transaction left open (the monitor process died in the middle of one). */
  reset(): void {
    this.events = [];
    this.unreadable = 0;
  }

  private close(generation: number, pid: number | undefined, process: string | undefined): NftTransaction {
    const tx: NftTransaction = {
      generation,
      ...(pid === undefined ? {} : { pid, process }),
      events: this.events,
      unreadable: this.unreadable,
    };
    this.reset();
    return tx;
  }
}

/** One event line, e.g. `delete rule ip mangle HAGENT-PRE handle 4`; null when it is none. */
export function parseEvent(line: string): NftEvent | null {
  const words = line.split(' ');
  const kind = lookup(VERBS, words[0] ?? '');
  if (!kind) return null;
  const twoWord = `${words[1]} ${words[2]}`;
  const objectWord = lookup(OBJECTS, twoWord) ? twoWord : words[1] ?? '';
  const object = lookup(OBJECTS, objectWord);
  if (!object) return null;
  const at = 1 + objectWord.split(' ').length;
  const family = words[at];
  const table = words[at + 1];
  if (!family || !FAMILIES.has(family) || !table) return null;
  const base = { kind, verb: words[0]!, object, family, table };
  const trailing = wholeNumber(TRAILING_HANDLE.exec(line)?.[1]);
  const handle = trailing === undefined ? {} : { handle: trailing };
  const name = words[at + 2];
  switch (object) {
    case 'table':
      return { ...base, ...handle };
    case 'chain':
      return name ? { ...base, chain: name, ...handle } : null;
    case 'rule': {
      if (!name) return null;
      if (kind === 'delete') {
        // `delete rule F T C handle N`: the handle is all nft prints of a deleted rule.
        const deleted = words[at + 3] === 'handle' ? wholeNumber(words[at + 4]) : undefined;
        return deleted !== undefined ? { ...base, chain: name, handle: deleted } : { ...base, chain: name };
      }
      let rest = words.slice(at + 3);
      // Without -a, nft prints the insert position where the handle would be: never a handle.
      if (rest[0] === 'handle' && /^\d+$/.test(rest[1] ?? '')) rest = rest.slice(2);
      // The trailing handle goes, also when no statement precedes it.
      const rule = ` ${rest.join(' ')}`.replace(TRAILING_HANDLE, '').trim();
      return { ...base, chain: name, ...handle, rule };
    }
    case 'set':
    case 'element':
    case 'flowtable':
    case 'object': {
      if (!name) return null;
      // `add map F T NAME { # handle 9 type ...`: the handle sits inside the braces.
      const inner = wholeNumber(/ \{ # handle (\d+) /.exec(line)?.[1]);
      return { ...base, name, ...(inner !== undefined ? { handle: inner } : handle) };
    }
  }
}
