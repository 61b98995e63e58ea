// Own writer pids: marked at spawn, still own after release until the monitor has caught up with
// its events and a grace period has passed, forgotten after it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OwnWriters } from '../../agent/apply/nft-own.js';

describe('OwnWriters', () => {
  it('a pid is own from mark until the grace after its release, once the monitor has caught up', () => {
    const own = new OwnWriters(1000, 60_000);
    assert.equal(own.has(42, 0), false);
    own.mark(42);
    assert.equal(own.has(42, 50_000), true, 'live marks do not expire');
    own.release(42, 100);
    own.caughtUp(200);
    assert.equal(own.has(42, 1100), true);
    assert.equal(own.has(42, 1101), false);
    assert.equal(own.size, 0);
  });

  it('a released pid stays own while the monitor is behind (a large apply read slowly), up to a bound', () => {
    const own = new OwnWriters(1000, 60_000);
    own.mark(42);
    own.release(42, 100);
    assert.equal(own.has(42, 15_000), true, 'its generation line may still be unread');
    // A catch-up check that began before the release proves nothing about the writer's events.
    own.caughtUp(99);
    assert.equal(own.has(42, 20_000), true);
    own.caughtUp(16_000);
    assert.equal(own.has(42, 20_000), false, 'caught up after the release, past the grace: no longer own');
    own.mark(43);
    own.release(43, 100_000);
    assert.equal(own.has(43, 160_000), true);
    assert.equal(own.has(43, 160_001), false, 'a monitor that never catches up keeps no pid for good');
  });

  it('a pid marked twice (a long-lived session and a one-shot reusing it) needs both releases', () => {
    const own = new OwnWriters(10);
    own.mark(7);
    own.mark(7);
    own.release(7, 0);
    own.caughtUp(1);
    assert.equal(own.has(7, 100), true);
    own.release(7, 100);
    own.caughtUp(101);
    assert.equal(own.has(7, 111), false);
  });

  it('prune forgets released pids no longer own; releasing an unknown pid does nothing', () => {
    const own = new OwnWriters(10);
    own.release(5, 0);
    assert.equal(own.has(5, 0), false);
    for (const pid of [1, 2, 3]) own.mark(pid), own.release(pid, pid);
    own.caughtUp(4);
    own.prune(13);
    assert.equal(own.size, 1);
    assert.equal(own.has(3, 13), true);
  });
});
