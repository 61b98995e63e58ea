// IPv6 farms carry real traffic in network namespaces with both drivers (ip6tables-restore, the
// `ip6` table): weighted shares pass a chi-square test, a backend that goes down leaves the chain,
// and its tracked IPv6 connections are cut by mark.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { desiredState as desired } from '../support/config.js';
import { ConntrackCli } from '../../agent/apply/conntrack.js';
import type { Netfilter } from '../../agent/apply/netfilter.js';
import { createLab, singleLbTopology, parseJsonLine, type Lab } from '../netns/topology.js';
import { assertShares } from '../netns/stats.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';
import { DRIVERS, labNetfilter } from './drivers.js';
import { addIPv6, labBackends6Yaml, VIP6 } from './lab6.js';

const farmYaml = (weights: number[]): string => `node: { id: lb1 }
farms:
  - name: web6
    vip: "${VIP6}"
    ports: [80]
    mode: dnat
    backends:
${labBackends6Yaml(weights)}
`;

for (const driver of DRIVERS) {
  describe(`IPv6 farm through the ${driver} driver`, needsRoot(), () => {
    let lab: Lab;
    let netfilter: Netfilter;
    const connect = async (count: number): Promise<ConnReport> => {
      const r = await lab.execFixture('client', 'conn-client', ['--target', `${VIP6}:80`, '--count', String(count), '--concurrency', '16'], { timeoutMs: 120_000 });
      return parseJsonLine<ConnReport>(r.stdout);
    };

    before(async () => {
      lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
      await addIPv6(lab, { backends: 3 });
      await lab.exec('lb1', 'ip', ['-6', 'addr', 'add', `${VIP6}/128`, 'dev', lab.iface('lb1', 'front'), 'nodad']);
      await Promise.all([1, 2, 3].map((i) => lab.serveName(`b${i}`, `b${i}`, 8080, ['--host', '::'])));
      netfilter = labNetfilter(lab, 'lb1', driver);
      await netfilter.adopt();
    });
    after(async () => {
      await netfilter?.removeAll().catch(() => undefined);
      await lab?.destroy();
    });

    it('1200 TCP connections to an IPv6 VIP with backends weighted 1:2:3 pass a chi-square test', async (t) => {
      await netfilter.sync(desired(farmYaml([1, 2, 3])));
      const report = await connect(1200);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      const fit = assertShares(report.counts, { b1: 1 / 6, b2: 2 / 6, b3: 3 / 6 });
      t.diagnostic(`counts ${JSON.stringify(report.counts)}, chi-square p = ${fit.pValue.toFixed(4)}, ${report.durationMs} ms`);
      assert.deepEqual((await netfilter.verify()).differences, []);
    });

    it('a backend down leaves the chain: no new connection reaches it, the others keep their shares; its IPv6 flows are cut by mark', async () => {
      const state = desired(farmYaml([1, 2, 3]), ['web6/b3']);
      await netfilter.sync(state, new Set(['web6']));
      const b3 = state.farms[0]!.backends[2]!;
      // The connections of the previous test linger in conntrack (TIME_WAIT) with b3's mark.
      const runner = new NsRunner(lab.nsName('lb1'));
      const marked = async () => (await runner.run('conntrack', ['-L', '-f', 'ipv6', '--mark', `0x${b3.mark.toString(16)}/0x3fff`])).stdout.trim();
      assert.notEqual(await marked(), '', "b3's IPv6 connections are in conntrack before the cut");
      assert.ok(await new ConntrackCli(runner).cut(b3.mark, state.markMask) > 0);
      assert.equal(await marked(), '', "b3's IPv6 connections are gone after the cut");
      const report = await connect(600);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assert.equal(report.counts.b3 ?? 0, 0);
      assertShares(report.counts, { b1: 1 / 3, b2: 2 / 3 });
      assert.deepEqual((await netfilter.verify()).differences, []);
    });
  });
}
