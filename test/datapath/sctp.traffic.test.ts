// An sctp farm carries SCTP associations, both drivers. This kernel may have no SCTP sockets
// (CONFIG_IP_SCTP off) while conntrack and NAT still track SCTP, so the associations are the
// real four-packet handshake over raw IP sockets (test/datapath/fixtures/sctp.py): INIT through
// the VIP is DNATed to a backend, whose INIT-ACK comes back from the VIP; COOKIE-ECHO follows the
// same conntrack entry to the same backend, which answers COOKIE-ACK. Where the kernel lacks
// SCTP conntrack, the test says so and fails: the farm cannot work there.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Netfilter } from '../../agent/apply/netfilter.js';
import { createLab, singleLbTopology, backendIp, VIP, type Lab } from '../netns/topology.js';
import { desiredState } from '../support/config.js';
import { repoPath } from '../support/repo.js';
import { needsRoot } from '../support/root.js';
import { DRIVERS, labNetfilter } from './drivers.js';

const SCTP = repoPath('test/datapath/fixtures/sctp.py');
const yaml = `node: { id: lb1 }
farms:
  - name: sig
    vip: ${VIP}
    protocol: sctp
    ports: [2905]
    check: { type: none }
    backends:
      - { name: b1, ip: ${backendIp(1)}, port: 2905 }
      - { name: b2, ip: ${backendIp(2)}, port: 2905 }
`;

for (const driver of DRIVERS) {
  describe(`sctp farm through the ${driver} driver`, needsRoot(), () => {
    let lab: Lab;
    let netfilter: Netfilter;
    const associate = async (count: number) => {
      const r = await lab.exec('client', 'python3', [SCTP, 'client', '--target', `${VIP}:2905`, '--count', String(count)], { timeoutMs: 120_000 });
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { counts: Record<string, number>; failures: number };
    };

    before(async () => {
      lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
      await lab.addAddress('lb1', 'front', `${VIP}/32`);
      const ct = await lab.exec('lb1', 'sh', ['-c', 'modprobe nf_conntrack 2>/dev/null; cat /proc/net/nf_conntrack >/dev/null && echo ok'], { reject: false });
      assert.match(ct.stdout, /ok/, 'conntrack is there');
      for (let i = 1; i <= 3; i++) {
        const server = lab.spawn(`b${i}`, 'python3', [SCTP, 'server', '--port', '2905', '--name', `b${i}`]);
        await server.waitForLine('listening', 10_000);
      }
      netfilter = labNetfilter(lab, 'lb1', driver);
      await netfilter.adopt();
      await netfilter.sync(desiredState(yaml));
    });
    after(async () => {
      await netfilter?.removeAll().catch(() => undefined);
      await lab?.destroy();
    });

    it('40 associations complete through the VIP, each with b1 or b2, never b3; conntrack holds them ESTABLISHED', async () => {
      const r = await associate(40);
      assert.equal(r.failures, 0, JSON.stringify(r));
      assert.equal((r.counts.b1 ?? 0) + (r.counts.b2 ?? 0), 40, JSON.stringify(r.counts));
      assert.ok((r.counts.b1 ?? 0) > 5 && (r.counts.b2 ?? 0) > 5, JSON.stringify(r.counts));
      assert.equal(r.counts.b3, undefined);
      const tracked = await lab.exec('lb1', 'conntrack', ['-L', '-p', 'sctp'], { reject: false });
      const established = tracked.stdout.split('\n').filter((l) => l.includes(' ESTABLISHED ') && l.includes(`dst=${VIP}`));
      assert.ok(established.length >= 40, `SCTP conntrack (a kernel without it cannot NAT SCTP):\n${tracked.stdout}${tracked.stderr}`);
    });

    it('without the farm, the same handshake gets no answer (the VIP is the LB\'s own address)', async () => {
      await netfilter.removeAll();
      const r = await associate(3);
      assert.equal(r.failures, 3, JSON.stringify(r));
      await netfilter.adopt();
      await netfilter.sync(desiredState(yaml));
    });
  });
}
