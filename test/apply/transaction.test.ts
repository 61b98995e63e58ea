// The --noflush transaction: only what differs, references dropped before chains are deleted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTransaction } from '../../agent/apply/transaction.js';
import { emptyRuleset, chainKey, JUMPS, type Chain, type Ruleset } from '../../agent/render/ruleset.js';

function ruleset(chains: Chain[], jumps = JUMPS): Ruleset {
  return { chains: new Map(chains.map((c) => [chainKey(c.table, c.name), c])), jumps };
}
const farmChain = (name: string, rules: string[]): Chain => ({ table: 'mangle', name, kind: 'ordered', rules });
const dispatch = (rules: string[]): Chain => ({ table: 'mangle', name: 'HAGENT-FARMS', kind: 'set', rules });

test('nothing to do returns null', () => {
  const r = ruleset([farmChain('HAM-a', ['-j ACCEPT']), dispatch(['-d 1.1.1.1/32 -j HAM-a'])]);
  assert.equal(buildTransaction(r, r), null);
  assert.equal(buildTransaction(r, ruleset([farmChain('HAM-a', ['-j ACCEPT']), dispatch(['-d 1.1.1.1/32 -j HAM-a'])])), null);
});

test('first apply creates chains and inserts each jump at the top', () => {
  const tx = buildTransaction(emptyRuleset(), ruleset([farmChain('HAM-a', ['-j ACCEPT'])]))!;
  assert.match(tx.text, /^\*mangle\n:HAM-a - \[0:0\]\n-A HAM-a -j ACCEPT\n-I PREROUTING 1 -j HAGENT-PRE\nCOMMIT\n/);
  assert.match(tx.text, /\*nat\n-I PREROUTING 1 -j HAGENT-DNAT\n-I POSTROUTING 1 -j HAGENT-SNAT\nCOMMIT/);
});

test('a changed ordered chain is redeclared (flushed) and refilled; other chains are not mentioned', () => {
  const before = ruleset([farmChain('HAM-a', ['-j A1']), farmChain('HAM-b', ['-j B1'])]);
  const after = ruleset([farmChain('HAM-a', ['-j A2']), farmChain('HAM-b', ['-j B1'])]);
  const tx = buildTransaction(before, after)!;
  assert.equal(tx.text, '*mangle\n:HAM-a - [0:0]\n-A HAM-a -j A2\nCOMMIT\n');
  assert.deepEqual(tx.rewritten, ['mangle/HAM-a']);
});

test('probabilities equal after the kernel quantizes them are not a change', () => {
  const before = ruleset([farmChain('HAM-a', ['-m statistic --mode random --probability 0.33333333349 -j X'])]);
  const after = ruleset([farmChain('HAM-a', ['-m statistic --mode random --probability 0.33333333333 -j X'])]);
  assert.equal(buildTransaction(before, after), null);
});

test('set chains change rule by rule; a removed farm is unhooked before its chain is deleted', () => {
  const before = ruleset([farmChain('HAM-a', ['-j A']), farmChain('HAM-b', ['-j B']), dispatch(['-j HAM-a', '-j HAM-b'])]);
  const after = ruleset([farmChain('HAM-a', ['-j A']), farmChain('HAM-c', ['-j C']), dispatch(['-j HAM-a', '-j HAM-c'])]);
  const tx = buildTransaction(before, after)!;
  const lines = tx.text.split('\n');
  assert.ok(!lines.includes('-A HAGENT-FARMS -j HAM-a'), 'untouched dispatch rule keeps its counters');
  assert.ok(lines.indexOf('-D HAGENT-FARMS -j HAM-b') < lines.indexOf('-X HAM-b'));
  assert.ok(lines.indexOf(':HAM-c - [0:0]') < lines.indexOf('-A HAGENT-FARMS -j HAM-c'));
  assert.deepEqual(tx.deleted, ['mangle/HAM-b']);
});

test('removing everything deletes jumps too', () => {
  const before = ruleset([farmChain('HAGENT-PRE', ['-j X'])]);
  const tx = buildTransaction(before, emptyRuleset())!;
  assert.match(tx.text, /-D PREROUTING -j HAGENT-PRE/);
  assert.match(tx.text, /-X HAGENT-PRE/);
});
