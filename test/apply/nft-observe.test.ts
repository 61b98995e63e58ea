// Reading the agent's table back: nft's JSON listing parsed one item at a time gives what a
// whole parse gives, brackets and quotes inside strings included; text that is not nft's JSON is
// refused; and what a snapshot keeps of each object is a digest, not its listing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eachNftItem, parseNftJson } from '../../agent/apply/nft-observe.js';

const rule = (handle: number, comment: string, port: number) =>
  ({ rule: { family: 'ip', table: 'ha_agent', chain: 'farm_x', handle, comment, expr: [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: port } }] } });

const listing = {
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'ha_agent', handle: 1 } },
    { table: { family: 'ip', name: 'other', handle: 2 } },
    { chain: { family: 'ip', table: 'ha_agent', name: 'farm_x', handle: 3 } },
    { chain: { family: 'ip', table: 'other', name: 'farm_x', handle: 4 } },
    { map: { family: 'ip', name: 'mark_restore', table: 'ha_agent', type: 'mark', handle: 5, map: 'verdict', elem: [[513, { goto: { target: 'restore_x' } }]] } },
    rule(6, 'a "]}{ [ \\ ha-agent:2:0123456789abcdef', 80),
    rule(7, 'b', 81),
    { rule: { family: 'ip', table: 'other', chain: 'farm_x', handle: 8, expr: [{ counter: null }] } },
  ],
};

test('one item at a time: the same items as a whole parse, strings with brackets and quotes included', () => {
  for (const text of [JSON.stringify(listing), JSON.stringify(listing, null, 2), `  ${JSON.stringify(listing)}\n`]) {
    const items: unknown[] = [];
    eachNftItem(text, (item) => items.push(item));
    assert.deepEqual(items, listing.nftables);
  }
  const observed = parseNftJson(JSON.stringify(listing));
  assert.equal(observed.present, true);
  assert.deepEqual([...observed.chains], [['farm_x', { digest: '0123456789abcdef', rules: 2 }]]);
  assert.deepEqual([...observed.elements], [['mark_restore', new Map([['0x201', 'goto restore_x']])]]);
  assert.deepEqual([...observed.snapshot.keys()], ['map mark_restore', 'chain farm_x']);
  for (const digest of observed.snapshot.values()) assert.ok(digest.length <= 44, 'a digest, not the listing');
});

test("a rule changed in place changes its chain's snapshot, another table's rule does not", () => {
  const base = parseNftJson(JSON.stringify(listing)).snapshot;
  const changed = structuredClone(listing);
  (changed.nftables[7] as ReturnType<typeof rule>).rule.expr[0]!.match.right = 82;
  assert.notEqual(parseNftJson(JSON.stringify(changed)).snapshot.get('chain farm_x'), base.get('chain farm_x'));
  const elsewhere = structuredClone(listing);
  (elsewhere.nftables[8] as { rule: { expr: unknown[] } }).rule.expr = [];
  assert.deepEqual(parseNftJson(JSON.stringify(elsewhere)).snapshot, base);
});

test('text that is not nft JSON is refused', () => {
  const text = JSON.stringify(listing);
  for (const bad of [text.slice(0, -2), text.slice(0, -1), '{}', '{"nftables": [}', '{"nftables": [{"table": {}}] } x', '{"nftables": [{"a": "]}]}', 'nft: error']) {
    assert.throws(() => parseNftJson(bad), Error, bad);
  }
  assert.equal(parseNftJson('{"nftables": []}').present, false);
});
