// What is accepted from Redis: valid values only, with a reason for everything refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actionSchema, heartbeatSchema, isBackendKey, parseValue, MAX_VALUE_BYTES } from '../../agent/cluster/messages.js';
import { clusterKeys } from '../../agent/cluster/keys.js';

test('a valid action parses', () => {
  assert.deepEqual(parseValue(actionSchema, '{"admin":"drain","rev":3,"node":"lb1","at":1}'), { ok: true, value: { admin: 'drain', rev: 3, node: 'lb1', at: 1 } });
});

const hostile: [string, unknown, RegExp][] = [
  ['not a string', 42, /expected a string/],
  ['not JSON', '{admin', /not JSON/],
  ['shell in a value', '{"admin":"drain; rm -rf /","rev":3,"node":"lb1","at":1}', /admin/],
  ['wrong type', '{"admin":"drain","rev":"3","node":"lb1","at":1}', /rev/],
  ['extra field', '{"admin":"drain","rev":3,"node":"lb1","at":1,"cmd":"x"}', /Unrecognized key/],
  ['huge', `"${'A'.repeat(MAX_VALUE_BYTES + 1)}"`, /limit/],
  ['bad node id', '{"admin":"drain","rev":3,"node":"$(id)","at":1}', /node/],
];
for (const [name, raw, reason] of hostile) {
  test(`refused: ${name}`, () => {
    const r = parseValue(actionSchema, raw);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, reason);
  });
}

test('heartbeats and backend keys are checked too', () => {
  assert.equal(parseValue(heartbeatSchema, '{"node":"evil","vrrp":"MASTER"}').ok, false);
  assert.equal(isBackendKey('web/b1'), true);
  for (const bad of ['$(reboot)/b1', 'web', 'web/b1/x', 'web/b 1']) assert.equal(isBackendKey(bad), false, bad);
});

test('every key of a cluster shares one hash tag (Redis Cluster slot)', () => {
  const k = clusterKeys('ha-agent', 'pair1');
  const tags = [k.node('lb1'), k.actions, k.revision, k.health('lb1'), k.config, k.channel].map((key) => /^\{[^}]+\}/.exec(key)![0]);
  assert.deepEqual(new Set(tags), new Set(['{ha-agent:pair1}']));
});
