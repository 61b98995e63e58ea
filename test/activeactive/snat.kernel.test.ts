// Three LBs behind ECMP in snat mode with hash-5tuple: what active-active gives a stateful NAT
// farm. New connections spread over the LBs and the backends by weight, a backend leaving or
// joining moves nothing established (each LB's conntrack pins its flows), and an LB that dies
// takes its own connections with it (nobody else holds their NAT state) while the others' carry
// on. One driver: the snat path is conntrack's on both, and the direct-return suite runs the
// driver matrix. Prints the measured figures.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { needsProgram, needsRoot } from '../support/root.js';
import { ActiveActive, LBS, type LbName } from './topology.js';
import { FARMS } from './config.js';
import { burst, fate, openStreams } from './traffic.js';
import { assertSameTables, waitHealth } from './checks.js';
import { backendDownMovesOnlyItsFlows, say, spreadsOverLbsAndBackends } from './scenarios.js';
import { silenceUntilDropped } from './silent.js';

const FARM = FARMS.snat;
const WEIGHTS = [1, 2, 3];
const STREAMS = 60;

/** Flows to the VIP the LB tracks (its NAT state). */
async function tracked(aa: ActiveActive, lb: LbName): Promise<number> {
  const r = await aa.lab.exec(lb, 'conntrack', ['-L', '-p', 'tcp', '--orig-dst', FARM.vip, '--state', 'ESTABLISHED'], { reject: false });
  return r.stdout.split('\n').filter((l) => l.includes(`dst=${FARM.vip}`)).length;
}

describe('active-active, snat + hash-5tuple, three LBs behind ECMP', { ...needsRoot(), ...needsProgram('bird'), timeout: 180_000 }, () => {
  let aa: ActiveActive;

  before(async () => {
    aa = await ActiveActive.create({ driver: 'nftables', farms: [FARM], weights: WEIGHTS });
  });
  after(async () => {
    await aa?.destroy();
  });

  it('spreads new connections over all three LBs (> 15 % each) and over the backends by weight', () => spreadsOverLbsAndBackends(aa, FARM, WEIGHTS));

  it('a backend goes down: streams to the others carry on, new connections avoid it on every LB', () => backendDownMovesOnlyItsFlows(aa, FARM, STREAMS));

  it('a backend is added: established streams stay (conntrack pins them), and every LB applies the same tables', async () => {
    const stream = await openStreams(aa, FARM.vip, STREAMS);
    try {
      const at = Date.now();
      aa.writeConfigs(4);
      await aa.reload();
      await waitHealth(aa, FARM.name, 'b4', 'up');
      const f = await fate(stream, at, 1000);
      say(`snat backend added: ${f.broken.length}/${f.total} established streams broken`);
      assert.equal(f.broken.length, 0, JSON.stringify(f.errors));
      const report = await burst(aa, FARM.vip, 300);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assert.ok((report.counts.b4 ?? 0) > 0, `b4 got no new connection: ${JSON.stringify(report.counts)}`);
      await assertSameTables(aa, FARM.name);
    } finally {
      await stream.stop(2000);
    }
  });

  it('an LB made silent then killed: its connections are lost (stateful NAT), the other LBs\' carry on', async () => {
    const stream = await openStreams(aa, FARM.vip, STREAMS);
    try {
      // Linux's multipath is hash-threshold: removing the middle next hop leaves the outer
      // ones' hash ranges where they were, so only the dead LB's flows move. (Removing an outer
      // one would also shift part of a survivor's range, and under stateful NAT those flows
      // would break too: a router with resilient next-hop groups avoids that.)
      const order = await aa.nexthops(FARM.vip);
      assert.equal(order.length, 3, `the router routes the VIP via ${order.join(', ')}`);
      const dead = order[1]!;
      const held = Object.fromEntries(await Promise.all(LBS.map(async (lb) => [lb, await tracked(aa, lb)] as const))) as Record<LbName, number>;
      assert.equal(LBS.reduce((s, lb) => s + held[lb], 0), STREAMS, `tracked per LB: ${JSON.stringify(held)}`);
      const { silentAt, detectedAt } = await silenceUntilDropped(aa, FARM.vip, dead);
      const detectMs = detectedAt - silentAt;
      await aa.kill(dead);
      const f = await fate(stream, detectedAt, 4000);
      say(`snat LB silent (${dead}, middle next hop): router dropped it after ${Math.round(detectMs)} ms; it held ${held[dead]} of ${STREAMS} streams; ${f.alive.length} alive, ${f.broken.length} lost (${JSON.stringify(f.errors)})`);
      assert.ok(held[dead] > 0, 'the silenced LB carried no stream: nothing to show');
      assert.equal(f.broken.length, held[dead], 'exactly the dead LB\'s streams are lost');
      assert.equal(f.alive.length, STREAMS - held[dead]);
    } finally {
      await stream.stop(2000);
    }
  });
});
