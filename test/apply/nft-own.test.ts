// Own writer pids: marked at spawn, still own for a grace period after release (the monitor may
// print the generation line after the writer's exit was seen), forgotten after it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OwnWriters } from '../../agent/apply/nft-own.js';

describe('OwnWriters', () => {
  it('a pid is own from mark until the grace after its release', () => {
    const own = new OwnWriters(1000);
    assert.equal(own.has(42, 0), false);
    own.mark(42);
    assert.equal(own.has(42, 50_000), true, 'live marks do not expire');
    own.release(42, 100);
    assert.equal(own.has(42, 1100), true);
    assert.equal(own.has(42, 1101), false);
    assert.equal(own.size, 0);
  });

  it('a pid marked twice (a long-lived session and a one-shot reusing it) needs both releases', () => {
    const own = new OwnWriters(10);
    own.mark(7);
    own.mark(7);
    own.release(7, 0);
    assert.equal(own.has(7, 100), true);
    own.release(7, 100);
    assert.equal(own.has(7, 111), false);
  });

  it('prune forgets released pids past their grace; releasing an unknown pid does nothing', () => {
    const own = new OwnWriters(10);
    own.release(5, 0);
    assert.equal(own.has(5, 0), false);
    for (const pid of [1, 2, 3]) own.mark(pid), own.release(pid, pid);
    own.prune(13);
    assert.equal(own.size, 1);
    assert.equal(own.has(3, 13), true);
  });
});
