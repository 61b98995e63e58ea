// The three-LB cases whose steps and bars are the same whatever the farm's mode (dsr, snat): the
// suites call them with their own lab and farm, and the printed figures carry the mode.

import assert from 'node:assert/strict';
import { assertShares } from '../netns/stats.js';
import { LBS, type ActiveActive } from './topology.js';
import type { AaFarm } from './config.js';
import { burst, fate, openStreams, percentages } from './traffic.js';
import { waitHealth } from './checks.js';

export const say = (text: string) => process.stdout.write(`# ${text}\n`);

/** New connections spread over all three LBs (> 15 % each) and over the backends by weight. */
export async function spreadsOverLbsAndBackends(aa: ActiveActive, farm: AaFarm, weights: readonly number[]): Promise<void> {
  const before = await aa.synCounts(farm.name);
  const report = await burst(aa, farm.vip, 900);
  const spread = percentages(before, await aa.synCounts(farm.name));
  say(`${farm.mode} spread over LBs (% of SYNs): ${JSON.stringify(spread)}; backends: ${JSON.stringify(report.counts)}`);
  assert.equal(report.failures, 0, JSON.stringify(report.errors));
  for (const lb of LBS) assert.ok(spread[lb] > 15, `${lb} carried ${spread[lb]} % of the new connections`);
  assertShares(report.counts, { b1: weights[0]!, b2: weights[1]!, b3: weights[2]! });
}

/** b3 stops: the streams to the other backends all carry on, and no LB sends it a new connection; b3 then comes back. */
export async function backendDownMovesOnlyItsFlows(aa: ActiveActive, farm: AaFarm, streams: number): Promise<void> {
  const stream = await openStreams(aa, farm.vip, streams);
  try {
    const downAt = Date.now();
    await aa.stopServer(3);
    await waitHealth(aa, farm.name, 'b3', 'down');
    const report = await burst(aa, farm.vip, 300);
    assert.equal(report.failures, 0, `connections failed: ${JSON.stringify(report.errors)}`);
    assert.equal(report.counts.b3 ?? 0, 0);
    const f = await fate(stream, downAt, 1000);
    const others = f.broken.filter((c) => c.backend !== 'b3');
    say(`${farm.mode} backend down: ${f.alive.length}/${f.total} streams alive, ${f.broken.length - others.length} were on b3`);
    assert.deepEqual(others, [], 'streams to the other backends broke');
  } finally {
    await stream.stop(2000);
  }
  await aa.serve(3);
  await waitHealth(aa, farm.name, 'b3', 'up');
}
