// Three LBs behind ECMP in dsr mode with hash-5tuple: the acceptance of active-active. The LB
// made silent runs on both drivers (the two hash the packet differently, and it is the case the
// design exists for); the other cases run on iptables alone, sharing its lab, because they test
// the agents' shared view and BGP, which do not depend on the driver. Prints the figures.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { needsProgram, needsRoot } from '../support/root.js';
import { ActiveActive, LBS } from './topology.js';
import { FARMS } from './config.js';
import { burst, fate, openStreams, percentages } from './traffic.js';
import { assertSameTables, waitHealth } from './checks.js';
import { backendDownMovesOnlyItsFlows, say, spreadsOverLbsAndBackends } from './scenarios.js';
import { silentCases } from './cases.js';

const FARM = FARMS.dsr;
const WEIGHTS = [1, 2, 3];
const STREAMS = 60;

describe('active-active, dsr + hash-5tuple, iptables: spread, backends leaving and joining, node drain, LB silent', { ...needsRoot(), ...needsProgram('bird'), timeout: 240_000 }, () => {
  let aa: ActiveActive;
  before(async () => {
    aa = await ActiveActive.create({ driver: 'iptables', farms: [FARM], weights: WEIGHTS });
  });
  after(async () => {
    await aa?.destroy();
  });

  it('spreads new connections over all three LBs (> 15 % each) and over the backends by weight', () => spreadsOverLbsAndBackends(aa, FARM, WEIGHTS));

  it('a backend goes down: streams to the others all carry on, new connections avoid it on every LB', () => backendDownMovesOnlyItsFlows(aa, FARM, STREAMS));

  it('a backend is added: at most 1/N + 5 % of established streams break, and every LB applies the same bucket tables', async () => {
    const stream = await openStreams(aa, FARM.vip, STREAMS);
    try {
      const at = Date.now();
      aa.writeConfigs(4);
      await aa.reload();
      await waitHealth(aa, FARM.name, 'b4', 'up');
      const f = await fate(stream, at, 3500);
      const fraction = f.broken.length / f.total;
      say(`dsr backend added (N=4): ${f.broken.length}/${f.total} established streams broken = ${(fraction * 100).toFixed(1)} % (limit ${(100 / 4 + 5).toFixed(0)} %)`);
      assert.ok(fraction <= 1 / 4 + 0.05, `${(fraction * 100).toFixed(1)} % of the streams broke`);
      const lines = await assertSameTables(aa, FARM.name);
      say(`dsr backend added: the three LBs applied the same ${lines}-line ruleset`);
      const report = await burst(aa, FARM.vip, 300);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assert.ok((report.counts.b4 ?? 0) > 0, `b4 got no new connection: ${JSON.stringify(report.counts)}`);
    } finally {
      await stream.stop(2000);
    }
  });

  it('agentctl node drain on one LB: 100 % of streams carry on and it carries no new connection; enable announces it again', async () => {
    const stream = await openStreams(aa, FARM.vip, STREAMS);
    try {
      const at = Date.now();
      const r = await aa.ctl('lb1', ['node', 'drain']);
      assert.equal(r.exitCode, 0, r.stdout + r.stderr);
      await aa.waitNexthops(['lb2', 'lb3'], 5000);
      const before = await aa.synCounts(FARM.name);
      const report = await burst(aa, FARM.vip, 300);
      const after = await aa.synCounts(FARM.name);
      const f = await fate(stream, at, 1500);
      say(`dsr node drain (lb1): streams ${f.alive.length}/${f.total} alive; new SYNs per LB after: ${JSON.stringify(percentages(before, after))}`);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assert.equal(after.lb1 - before.lb1, 0, 'the drained LB saw new connections');
      assert.equal(f.alive.length, STREAMS, `broken: ${JSON.stringify(f.broken)}`);
      const e = await aa.ctl('lb1', ['node', 'enable']);
      assert.equal(e.exitCode, 0, e.stdout + e.stderr);
      await aa.waitNexthops(LBS, 10_000);
    } finally {
      await stream.stop(2000);
    }
  });

  silentCases(() => aa, FARM, 'dsr/iptables');
});

describe('active-active, dsr + hash-5tuple, nftables: LB silent', { ...needsRoot(), ...needsProgram('bird'), timeout: 120_000 }, () => {
  let aa: ActiveActive;
  before(async () => {
    aa = await ActiveActive.create({ driver: 'nftables', farms: [FARM] });
  });
  after(async () => {
    await aa?.destroy();
  });
  silentCases(() => aa, FARM, 'dsr/nftables');
});
