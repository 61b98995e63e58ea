// The arithmetic behind the chain: probabilities, slots, smooth sequences, buckets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketOwners, lastMatchProbabilities, simulateLastMatch, slotCounts, smoothSequence, MAX_SLOTS } from '../../agent/plan/shares.js';

test("the seed's probabilities: backend 1 first at 1.0, backend 0 last at 0.5", () => {
  assert.deepEqual(lastMatchProbabilities([1, 1]), [0.5, 1]);
  assert.deepEqual(simulateLastMatch([0.5, 1]), [0.5, 0.5]);
});

test('slots are gcd-reduced and capped', () => {
  assert.deepEqual(slotCounts([2, 4, 6]), [1, 2, 3]);
  const big = slotCounts([997, 991, 983, 977, 971]);
  assert.equal(big.reduce((a, b) => a + b, 0), MAX_SLOTS);
});

test('smooth sequence interleaves and gives each its count', () => {
  const seq = smoothSequence([5, 1, 1]);
  assert.deepEqual(seq, [0, 0, 1, 0, 2, 0, 0]);
});

test('bucket owners follow weights when all are active', () => {
  const owners = bucketOwners([1, 1, 2], [0, 1, 2], [1, 1, 2]);
  assert.deepEqual([0, 1, 2].map((i) => owners.filter((o) => o === i).length), [1, 1, 2]);
  assert.deepEqual(bucketOwners([1, 1], [], []), []);
});
