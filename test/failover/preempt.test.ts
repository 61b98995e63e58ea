// lb1 coming back after a failover: with preempt: false it stays BACKUP behind the lower-priority
// MASTER; with preempt_delay it takes the VIP back only after the delay.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { Pair } from './pair.js';
import { statesOf, waitServedBy } from './probe.js';

/** lb1 MASTER, lb2 BACKUP, then lb1's agent SIGKILLed and lb2 serving. */
async function failedOver(pair: Pair): Promise<void> {
  await pair.start('lb1');
  await pair.waitState('lb1', 'MASTER');
  await pair.start('lb2');
  await pair.waitState('lb2', 'BACKUP');
  pair.agent('lb1').kill('SIGKILL');
  await waitServedBy(pair, 'lb2', 5000);
}

describe('preemption when lb1 comes back (netns pair)', needsRoot(), () => {
  it('preempt: false: lb1 back stays BACKUP and lb2 keeps the VIP', async () => {
    const pair = await Pair.create({ backends: 1, mode: 'dnat', advertMs: 100, preempt: false }, false);
    try {
      await failedOver(pair);
      await pair.start('lb1');
      await pair.waitState('lb1', 'BACKUP');
      // Many advert intervals: a preempting lb1 would have taken over after ~0.4 s.
      await sleep(2000);
      assert.deepEqual(pair.transitions('lb1'), ['BACKUP']);
      assert.deepEqual(await statesOf(pair), { lb1: 'BACKUP', lb2: 'MASTER' });
      await waitServedBy(pair, 'lb2', 2000);
    } finally {
      await pair.destroy();
    }
  });

  it('preempt_delay: 1s: lb1 back takes the VIP again, no sooner than the delay', async () => {
    const pair = await Pair.create({ backends: 1, mode: 'dnat', advertMs: 100, preemptDelay: '1s' }, false);
    try {
      await failedOver(pair);
      await pair.start('lb1');
      const backupAt = await pair.waitState('lb1', 'BACKUP');
      const masterAt = await pair.waitState('lb1', 'MASTER', 10_000);
      assert.ok(masterAt - backupAt >= 1000, `lb1 preempted ${masterAt - backupAt} ms after starting as BACKUP`);
      await waitServedBy(pair, 'lb1', 3000);
      assert.deepEqual(await statesOf(pair), { lb1: 'MASTER', lb2: 'BACKUP' });
    } finally {
      await pair.destroy();
    }
  });
});
