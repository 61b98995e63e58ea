// Established connections across a failover (snat mode, 3 backends): with conntrackd all 20
// streams keep exchanging data through lb2; without it the same failover breaks them.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VIP, sleep } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { Pair } from './pair.js';
import { waitServedBy } from './probe.js';
import { openStreams, survival, type Survival } from './streams.js';

const STREAMS = 20;

/**
 * Opens the streams through lb1, SIGKILLs lb1's agent (and with it keepalived), reports survival;
 * with conntrackd, also restarts lb1 (which resyncs from lb2, then preempts) and reports again.
 */
async function failoverWithStreams(conntrackd: boolean): Promise<Survival & { standbyFlows: number; failback?: Survival }> {
  const pair = await Pair.create({ backends: 3, mode: 'snat', advertMs: 100, conntrackd });
  try {
    await pair.waitState('lb1', 'MASTER');
    await pair.waitState('lb2', 'BACKUP');
    const stream = await openStreams(pair, STREAMS);
    // Let a few echoes pass so every flow is ESTABLISHED and (with conntrackd) replicated.
    await sleep(1000);
    // conntrackd injects the peer's flows into the standby's kernel as they happen.
    const standbyFlows = (await pair.lab.exec('lb2', 'conntrack', ['-L', '-p', 'tcp', '--orig-dst', VIP, '--state', 'ESTABLISHED'], { reject: false }))
      .stdout.split('\n').filter((l) => l.includes('ESTABLISHED')).length;
    pair.agent('lb1').kill('SIGKILL');
    await waitServedBy(pair, 'lb2', 5000);
    const since = Date.now();
    const result = await survival(stream, since, 2000);
    let failback: Survival | undefined;
    if (conntrackd) {
      await pair.start('lb1');
      await waitServedBy(pair, 'lb1', 10_000);
      failback = await survival(stream, Date.now(), 1500);
    }
    stream.kill('SIGTERM');
    return { ...result, standbyFlows, ...(failback ? { failback } : {}) };
  } finally {
    await pair.destroy();
  }
}

describe('connection sync with conntrackd (netns pair, snat)', needsRoot(), () => {
  it(`with conntrackd, all ${STREAMS} established streams keep exchanging data after failover to lb2, and back to lb1`, async (t) => {
    const r = await failoverWithStreams(true);
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.standbyFlows >= STREAMS, `lb2's kernel held ${r.standbyFlows} of the ${STREAMS} flows before the failover`);
    assert.equal(r.total, STREAMS);
    assert.equal(r.alive, STREAMS, `only ${r.alive}/${STREAMS} survived: ${JSON.stringify(r.errors)}`);
    assert.equal(r.failback?.alive, STREAMS, `after lb1 came back and preempted: ${JSON.stringify(r.failback)}`);
  });

  it('without conntrackd the same failover breaks them (the test measures something real)', async (t) => {
    const r = await failoverWithStreams(false);
    t.diagnostic(JSON.stringify(r));
    assert.equal(r.total, STREAMS);
    assert.equal(r.standbyFlows, 0, 'nothing syncs the flows to the standby');
    // lb2 picks mid-stream packets up as new flows and re-balances them: about two thirds land on
    // another backend, which resets them; a third hit their old backend by chance (binomial: more
    // than 15 of 20 surviving has a probability below 1e-4).
    assert.ok(r.alive <= 15, `${r.alive}/${STREAMS} survived without connection sync`);
  });
});
