// Real packets through the nftables rules in network namespaces (dnat mode): weighted shares pass
// a chi-square test, and a backend change made through the long-lived `nft -i` moves new
// connections while the table keeps its other farms' objects.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { desiredState as desired } from '../support/config.js';
import { NftCli } from '../../agent/apply/nftables.js';
import { createLab, singleLbTopology, labBackendsYaml, VIP, parseJsonLine, type Lab } from '../netns/topology.js';
import { assertShares } from '../netns/stats.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';

function farmYaml(weights: number[]): string {
  return `node: { id: lb1 }
farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    mode: dnat
    backends:
${labBackendsYaml(weights)}
`;
}

describe('nftables rules carry real traffic', needsRoot(), () => {
  let lab: Lab;
  let netfilter: NftCli;
  const connect = async (count: number): Promise<ConnReport> => {
    const r = await lab.execFixture('client', 'conn-client', ['--target', `${VIP}:80`, '--count', String(count), '--concurrency', '16'], { timeoutMs: 120_000 });
    return parseJsonLine<ConnReport>(r.stdout);
  };

  before(async () => {
    lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    await Promise.all([1, 2, 3].map((i) => lab.serveName(`b${i}`)));
    netfilter = new NftCli(new NsRunner(lab.nsName('lb1')), { session: ['ip', 'netns', 'exec', lab.nsName('lb1'), 'nft'] });
    await netfilter.adopt();
  });
  after(async () => {
    await netfilter?.removeAll().catch(() => undefined);
    await lab?.destroy();
  });

  it('1200 TCP connections to backends weighted 1:2:3 pass a chi-square test', async () => {
    await netfilter.sync(desired(farmYaml([1, 2, 3])));
    const report = await connect(1200);
    assert.equal(report.failures, 0, JSON.stringify(report.errors));
    assertShares(report.counts, { b1: 1 / 6, b2: 2 / 6, b3: 3 / 6 });
  });

  it('a backend going down (one farm chain rewritten in the session) gets no new connection; the others keep their shares', async () => {
    const result = await netfilter.sync(desired(farmYaml([1, 2, 3]), ['web/b3']), new Set(['web']));
    assert.deepEqual(result.rewritten, ['farm_web']);
    const report = await connect(600);
    assert.equal(report.failures, 0, JSON.stringify(report.errors));
    assert.equal(report.counts.b3 ?? 0, 0);
    assertShares(report.counts, { b1: 1 / 3, b2: 2 / 3 });
    assert.deepEqual((await netfilter.verify()).differences, []);
  });
});
