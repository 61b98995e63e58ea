// An IPv6 dsr farm in network namespaces, both drivers: `ip -6 rule fwmark` -> one table per
// backend, the packet unchanged (the backends listen on the VIP only), weighted shares, and no
// conntrack entry for the VIP on the LB.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { desiredState as desired } from '../support/config.js';
import { createLab, singleLbTopology, parseJsonLine, type Lab } from '../netns/topology.js';
import { assertShares } from '../netns/stats.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';
import { DRIVERS, labNetfilter } from '../datapath/drivers.js';
import { addIPv6, backendIp6, CLIENT6 } from '../datapath/lab6.js';
import { RoutedNetfilter } from '../../agent/apply/route-netfilter.js';

/** Off the client's subnet, reached through the LB. */
const VIP6 = 'fd00:60::100';

const farmYaml = (weights: readonly number[]): string => `node: { id: lb1 }
farms:
  - name: web6
    vip: "${VIP6}"
    ports: [80]
    mode: dsr
    algorithm: hash-5tuple
    check: { type: none }
    backends:
${weights.map((w, i) => `      - { name: b${i + 1}, ip: "${backendIp6(i + 1)}", weight: ${w} }`).join('\n')}
`;

for (const driver of DRIVERS) {
  describe(`IPv6 dsr through ${driver}`, needsRoot(), () => {
    let lab: Lab;
    let netfilter: RoutedNetfilter;

    before(async () => {
      lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
      await addIPv6(lab, { backends: 3 });
      for (const i of [1, 2, 3]) {
        await lab.exec(`b${i}`, 'ip', ['-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'lo']);
        await lab.serveName(`b${i}`, `b${i}`, 80, ['--host', VIP6]);
      }
      await lab.exec('lb1', 'ip', ['-6', 'route', 'add', `${VIP6}/128`, 'via', CLIENT6]);
      // Resolve the backends' neighbours first, so a first burst does not lose SYNs to unres_qlen.
      for (const i of [1, 2, 3]) await lab.exec('lb1', 'ping', ['-6', '-c1', '-W1', backendIp6(i)]);
      netfilter = new RoutedNetfilter(labNetfilter(lab, 'lb1', driver), new NsRunner(lab.nsName('lb1')));
      await netfilter.adopt();
    });
    after(async () => {
      await netfilter?.removeAll().catch(() => undefined);
      await lab?.destroy();
    });

    it('1200 connections reach backends weighted 1:2:3 at the VIP, and the LB tracks none of them', async () => {
      await netfilter.sync(desired(farmYaml([1, 2, 3])));
      const r = await lab.execFixture('client', 'conn-client', ['--target', `${VIP6}:80`, '--count', '1200', '--concurrency', '16', '--timeout-ms', '1500'], { timeoutMs: 120_000 });
      const report = parseJsonLine<ConnReport>(r.stdout);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assertShares(report.counts, { b1: 1 / 6, b2: 2 / 6, b3: 3 / 6 });
      const tracked = await new NsRunner(lab.nsName('lb1')).run('conntrack', ['-L', '-f', 'ipv6']);
      assert.deepEqual(tracked.stdout.split('\n').filter((l) => l.includes(VIP6)), []);
      assert.deepEqual(await netfilter.verify(), { inSync: true, differences: [] });
    });
  });
}
