// A protocol all farm carries every protocol of its VIP to the same backends, with both drivers:
// TCP connections, UDP datagrams and ICMP echo requests (each ping its own conntrack entry) all
// land on the farm's backends b1 and b2, none on b3 (a host of the same network outside the farm).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { desiredState as desired } from '../support/config.js';
import type { Netfilter } from '../../agent/apply/netfilter.js';
import { createLab, singleLbTopology, backendIp, parseJsonLine, VIP, type Lab } from '../netns/topology.js';
import { assertShares } from '../netns/stats.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import { needsRoot } from '../support/root.js';
import { DRIVERS, labNetfilter } from './drivers.js';

const yaml = `node: { id: lb1 }
farms:
  - name: any
    vip: ${VIP}
    protocol: all
    check: { type: tcp, port: 8080 }
    backends:
      - { name: b1, ip: ${backendIp(1)} }
      - { name: b2, ip: ${backendIp(2)} }
`;

const PINGS = 40;

for (const driver of DRIVERS) {
  describe(`protocol all through the ${driver} driver`, needsRoot(), () => {
    let lab: Lab;
    let netfilter: Netfilter;
    const echoes = async (host: string): Promise<number> => {
      const r = await lab.exec(host, 'nft', ['list', 'chain', 'ip', 'count', 'input']);
      return Number(/packets (\d+)/.exec(r.stdout)?.[1] ?? NaN);
    };

    before(async () => {
      lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
      await lab.addAddress('lb1', 'front', `${VIP}/32`);
      for (let i = 1; i <= 3; i++) {
        await lab.serveName(`b${i}`);
        await lab.serveName(`b${i}`, `b${i}`, 8080, ['--udp']);
        // Each backend counts the echo requests it receives.
        await lab.exec(`b${i}`, 'nft', ['-f', '-'], { input: 'table ip count {\n chain input {\n type filter hook input priority 0;\n icmp type echo-request counter\n }\n}\n' });
      }
      netfilter = labNetfilter(lab, 'lb1', driver);
      await netfilter.adopt();
      await netfilter.sync(desired(yaml));
    });
    after(async () => {
      await netfilter?.removeAll().catch(() => undefined);
      await lab?.destroy();
    });

    it('TCP connections and UDP datagrams to any port of the VIP reach b1 and b2 evenly, never b3', async () => {
      for (const args of [[], ['--udp']]) {
        const r = await lab.execFixture('client', 'conn-client', [...args, '--target', `${VIP}:8080`, '--count', '400', '--concurrency', '16'], { timeoutMs: 60_000 });
        const report = parseJsonLine<ConnReport>(r.stdout);
        assert.equal(report.failures, 0, JSON.stringify(report.errors));
        assertShares(report.counts, { b1: 0.5, b2: 0.5, b3: 0 });
      }
    });

    it(`${PINGS} ICMP echo requests are answered, each by b1 or b2, never by the LB or b3`, async () => {
      const before = await Promise.all(['b1', 'b2', 'b3'].map(echoes));
      for (let i = 0; i < PINGS; i++) {
        const r = await lab.exec('client', 'ping', ['-n', '-c', '1', '-W', '2', VIP], { reject: false });
        assert.equal(r.exitCode, 0, r.stdout + r.stderr);
      }
      const after = await Promise.all(['b1', 'b2', 'b3'].map(echoes));
      const got = after.map((n, i) => n - before[i]!);
      assert.equal(got[0]! + got[1]!, PINGS, `echo requests at b1, b2, b3: ${got.join(', ')}`);
      assert.equal(got[2], 0);
      assert.ok(got[0]! > 0 && got[1]! > 0, `both backends answer pings: ${got.join(', ')}`);
    });
  });
}
