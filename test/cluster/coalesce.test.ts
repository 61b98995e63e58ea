// Coalesced: one run at a time and at most one queued, every request answered by a run that
// began after it, settled() waiting without starting one, and a failed run not cancelling the next.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Coalesced } from '../../agent/cluster/coalesce.js';

/** Lets every pending promise callback run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A task whose runs each wait for release() (with an error to fail it), counting runs and overlap. */
function gated() {
  const state = { started: 0, running: 0, maxRunning: 0 };
  const pending: ((err?: Error) => void)[] = [];
  const coalesced = new Coalesced(() => {
    state.started++;
    state.maxRunning = Math.max(state.maxRunning, ++state.running);
    return new Promise<void>((resolve, reject) => {
      pending.push((err) => {
        state.running--;
        if (err) reject(err);
        else resolve();
      });
    });
  });
  const release = (err?: Error) => {
    const next = pending.shift();
    assert.ok(next, 'no run in flight');
    next(err);
  };
  return { state, coalesced, release };
}

test('a burst runs once now and once more after it, never two at once', async () => {
  const { state, coalesced, release } = gated();
  const requests = Array.from({ length: 5 }, () => coalesced.request());
  assert.equal(state.started, 1);
  release();
  await flush();
  assert.equal(state.started, 2);
  release();
  await Promise.all(requests);
  await flush();
  assert.equal(state.started, 2);
  assert.equal(state.maxRunning, 1);
});

test('every request resolves after a run that began after it', async () => {
  const { state, coalesced, release } = gated();
  const done: string[] = [];
  void coalesced.request().then(() => done.push('first'));
  // During run 1: answered by run 2.
  void coalesced.request().then(() => done.push('second'));
  release();
  await flush();
  assert.deepEqual(done, ['first']);
  assert.equal(state.started, 2);
  // During run 2: answered by run 3.
  void coalesced.request().then(() => done.push('third'));
  release();
  await flush();
  assert.deepEqual(done, ['first', 'second']);
  assert.equal(state.started, 3);
  release();
  await flush();
  assert.deepEqual(done, ['first', 'second', 'third']);
  assert.equal(state.maxRunning, 1);
});

test('settled() waits for every run requested so far and starts none', async () => {
  const { state, coalesced, release } = gated();
  await coalesced.settled();
  assert.equal(state.started, 0);
  const requests = [coalesced.request(), coalesced.request()];
  let settled = false;
  void coalesced.settled().then(() => (settled = true));
  release();
  await flush();
  assert.equal(settled, false, 'settled before the queued run ended');
  release();
  await flush();
  assert.equal(settled, true);
  await Promise.all(requests);
  assert.equal(state.started, 2);
});

test('a failed run rejects its own callers only: the run queued behind it still runs', async () => {
  const { state, coalesced, release } = gated();
  const first = assert.rejects(coalesced.request(), /boom/);
  const second = coalesced.request();
  release(new Error('boom'));
  await first;
  await flush();
  assert.equal(state.started, 2);
  release();
  await second;

  // settled() does not reject with a failed run.
  const third = assert.rejects(coalesced.request(), /again/);
  const settled = coalesced.settled();
  release(new Error('again'));
  await settled;
  await third;
  assert.equal(state.maxRunning, 1);
});
