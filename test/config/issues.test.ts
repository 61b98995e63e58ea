// "Did you mean": the edit distance and the closeness threshold, table-driven.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closest, editDistance, formatPath } from '../../config/issues.js';

const DISTANCE: readonly [string, string, number][] = [
  ['weight', 'weight', 0], ['wieght', 'weight', 1], ['intervall', 'interval', 1], ['farm', 'farms', 1], ['kitten', 'sitting', 3], ['', 'ab', 2],
];
for (const [a, b, want] of DISTANCE) test(`editDistance(${a}, ${b}) = ${want}`, () => assert.equal(editDistance(a, b), want));

const BACKEND_KEYS = ['name', 'ip', 'port', 'weight', 'priority', 'admin', 'mark'];
const CLOSEST: readonly [string, readonly string[], string | undefined][] = [
  ['wieght', BACKEND_KEYS, 'weight'],
  ['Weight', BACKEND_KEYS, 'weight'],
  ['prot', BACKEND_KEYS, 'port'],
  ['priorty', BACKEND_KEYS, 'priority'],
  ['xy', BACKEND_KEYS, undefined],
  ['zone', BACKEND_KEYS, undefined],
  ['address', BACKEND_KEYS, undefined],
  ['farm', ['node', 'control', 'dataplane', 'farms', 'vrrp', 'cluster'], 'farms'],
];
for (const [word, keys, want] of CLOSEST) test(`closest(${word}) = ${want}`, () => assert.equal(closest(word, keys), want));

test('formatPath', () => {
  assert.equal(formatPath(['farms', 0, 'backends', 1, 'ip']), 'farms[0].backends[1].ip');
  assert.equal(formatPath(['vrrp', 'unicast_peers', 2]), 'vrrp.unicast_peers[2]');
  assert.equal(formatPath([]), '');
});
