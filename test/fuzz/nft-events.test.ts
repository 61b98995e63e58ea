// Fuzzing the `nft -a monitor` parser: random lines, event-shaped lines built from nft's own
// words (and the words a plain JS object already has), and truncations and splices of the
// recorded monitor output. Property: every line yields a typed event, a transaction, or is
// counted unreadable; no value outside its type ever comes out (numbers are safe integers).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { NftEventParser, parseEvent, type NftEvent, type NftMonitorLine } from '../../agent/apply/nft-events.js';
import { anyText, HEAP_BOUND, heapGrowth, params, PROTO_WORDS, runs, testTimeout } from './support.js';

const fixture = (name: string): string[] =>
  readFileSync(fileURLToPath(new URL(`../../../test/apply/fixtures/${name}`, import.meta.url)), 'utf8').split('\n');
const FIXTURE_LINES = [...fixture('nft-monitor.nft-table.txt'), ...fixture('nft-monitor.iptables.txt')];

const KINDS = new Set(['add', 'delete']);
const OBJECTS = new Set(['table', 'chain', 'rule', 'set', 'element', 'flowtable', 'object']);
const FAMILIES = new Set(['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev']);

const WORDS = ['add', 'insert', 'create', 'replace', 'new', 'delete', 'destroy', 'table', 'chain', 'rule', 'set', 'map', 'meter',
  'element', 'flowtable', 'counter', 'quota', 'ct', 'helper', 'timeout', 'ip', 'ip6', 'inet', 'bridge', 'handle', '#', '{', '}',
  '0', '1', '18446744073709551616', '99999999999999999999', '-1', '1.5', 'ha_agent', 'HAGENT-PRE', ...PROTO_WORDS];

/** A line of nft-like words, sometimes with a trailing handle or a generation line. */
const wordLine = fc.oneof(
  fc.array(fc.oneof(fc.constantFrom(...WORDS), fc.string({ maxLength: 6 })), { maxLength: 10 }).map((w) => w.join(' ')),
  fc.tuple(fc.array(fc.constantFrom(...WORDS), { maxLength: 8 }), fc.constantFrom('1', '42', '9007199254740993', '1e3', '123456789012345678901234567890'))
    .map(([w, n]) => `${w.join(' ')} # handle ${n}`),
  fc.tuple(fc.constantFrom('1', '7', '9007199254740993', '123456789012345678901234567890'), fc.option(fc.tuple(fc.constantFrom('1', '99999999999999999999'), fc.string({ maxLength: 20 }))))
    .map(([g, p]) => `# new generation ${g}${p ? ` by process ${p[0]} (${p[1]})` : ''}`),
);

/** A recorded line cut short, or a recorded line with a random splice. */
const mangledFixture = fc.tuple(fc.constantFrom(...FIXTURE_LINES), fc.nat(), fc.nat(), anyText(12)).map(([line, a, b, insert]) => {
  const i = a % (line.length + 1);
  const j = i + (b % (line.length - i + 1));
  return line.slice(0, i) + insert + line.slice(j);
});

const anyLine = fc.oneof(anyText(300), wordLine, fc.constantFrom(...FIXTURE_LINES), mangledFixture);

function assertEvent(event: NftEvent): void {
  assert.ok(KINDS.has(event.kind), `kind ${String(event.kind)}`);
  assert.ok(OBJECTS.has(event.object), `object ${String(event.object)}`);
  assert.ok(FAMILIES.has(event.family), `family ${event.family}`);
  assert.equal(typeof event.table, 'string');
  assert.ok(event.table.length > 0 && !event.table.includes(' '));
  if (event.handle !== undefined) assert.ok(Number.isSafeInteger(event.handle) && event.handle >= 0, `handle ${event.handle}`);
  for (const field of ['chain', 'name', 'rule'] as const) if (event[field] !== undefined) assert.equal(typeof event[field], 'string');
}

function assertLine(out: NftMonitorLine | null): void {
  if (out === null || out.type === 'lost') return;
  const tx = out.transaction;
  assert.ok(Number.isSafeInteger(tx.generation) && tx.generation >= 0, `generation ${tx.generation}`);
  if (tx.pid !== undefined) assert.ok(Number.isSafeInteger(tx.pid) && tx.pid >= 0, `pid ${tx.pid}`);
  assert.ok(Number.isSafeInteger(tx.unreadable) && tx.unreadable >= 0);
  tx.events.forEach(assertEvent);
}

describe('fuzz: nft monitor parser', () => {
  const RUNS = 4000;
  it(`parseEvent: any line is a well-typed event or null (${runs(RUNS)} runs)`, { timeout: testTimeout(30_000, RUNS) }, () => {
    fc.assert(fc.property(anyLine, (line) => {
      const event = parseEvent(line);
      if (event !== null) assertEvent(event);
    }), params(RUNS));
  });

  it(`NftEventParser: any sequence of lines gives well-typed transactions, in bounded memory (${runs(RUNS)} runs)`, { timeout: testTimeout(30_000, RUNS) }, async () => {
    const growth = await heapGrowth(() => fc.assert(fc.property(fc.array(anyLine, { maxLength: 40 }), (lines) => {
      const parser = new NftEventParser();
      let closed = 0;
      for (const line of lines) {
        const out = parser.push(line);
        assertLine(out);
        if (out?.type === 'transaction') closed++;
      }
      assert.ok(closed <= lines.length);
    }), params(RUNS)));
    assert.ok(growth < HEAP_BOUND, `heap grew ${growth} bytes`);
  });

  it('regression: an nft line whose verb is "constructor" is not an event', () => {
    assert.equal(parseEvent('constructor rule ip t c'), null);
    assert.equal(parseEvent('add toString ip t c'), null);
    assert.equal(parseEvent('add rule ip t __proto__ accept # handle 3')?.kind, 'add');
  });

  it('regression: a handle or generation beyond 2^53 in nft output is not taken as a number', () => {
    assert.equal(parseEvent('add rule ip t c accept # handle 123456789012345678901234567890')?.handle, undefined);
    assert.equal(parseEvent('add chain ip t c # handle 9007199254740993')?.handle, undefined);
    const parser = new NftEventParser();
    assert.equal(parser.push('# new generation 123456789012345678901234567890 by process 1 (nft)'), null);
    const out = parser.push('# new generation 5 by process 99999999999999999999 (nft)');
    assert.equal(out?.type, 'transaction');
    assert.equal(out?.type === 'transaction' ? out.transaction.pid : 0, undefined);
  });
});
