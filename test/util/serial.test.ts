// The serial queue: tasks run one at a time in the order given, and one that fails neither
// stops the next nor makes idle() reject.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serialQueue } from '../../agent/util/serial.js';

test('tasks run one at a time, in order, each after the one before settled', async () => {
  const queue = serialQueue();
  const log: string[] = [];
  let running = 0;
  const task = (name: string, ms: number) => queue.run(async () => {
    running++;
    assert.equal(running, 1, `${name} overlaps another task`);
    log.push(`${name} start`);
    await new Promise((resolve) => setTimeout(resolve, ms));
    log.push(`${name} end`);
    running--;
    return name;
  });
  const results = await Promise.all([task('a', 20), task('b', 0), task('c', 5)]);
  assert.deepEqual(results, ['a', 'b', 'c']);
  assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
});

test('a failed task rejects for its caller only: the next runs, idle() resolves', async () => {
  const queue = serialQueue();
  const failed = queue.run(async () => { throw new Error('boom'); });
  const thrown = queue.run(() => { throw new Error('sync boom'); });
  const next = queue.run(async () => 'next');
  await assert.rejects(failed, /boom/);
  await assert.rejects(thrown, /sync boom/);
  assert.equal(await next, 'next');
  await queue.idle();
});

test('idle() waits for the tasks queued so far', async () => {
  const queue = serialQueue();
  let done = false;
  void queue.run(async () => {
    await new Promise((resolve) => setTimeout(resolve, 10));
    done = true;
  });
  await queue.idle();
  assert.equal(done, true);
});
