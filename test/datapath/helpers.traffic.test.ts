// Conntrack helpers attached by the agent carry the transfers that need them, with both drivers:
// a passive FTP download (the data connection goes to the VIP on a port no farm serves: only the
// ftp helper's expectation DNATs it) and a TFTP read (the server answers from a new port: only the
// tftp helper's expectation brings that reply back from the VIP). Without the helper, both fail.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { desiredState as desired } from '../support/config.js';
import type { Netfilter } from '../../agent/apply/netfilter.js';
import { createLab, singleLbTopology, backendIp, parseJsonLine, VIP, type Lab } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { repoPath } from '../support/repo.js';
import { DRIVERS, labNetfilter } from './drivers.js';

const TRANSFER = repoPath('test/datapath/fixtures/transfer.py');

const farmsYaml = (helpers: boolean): string => `node: { id: lb1 }
farms:
  - name: ftp
    vip: ${VIP}
    ports: [21]
${helpers ? '    helper: ftp\n' : ''}    backends:
      - { name: b1, ip: ${backendIp(1)}, port: 21 }
  - name: tftp
    vip: ${VIP}
    ports: [69]
    protocol: udp
${helpers ? '    helper: tftp\n' : ''}    check: { type: none }
    backends:
      - { name: b1, ip: ${backendIp(1)}, port: 69 }
`;

interface Transfer { ok: boolean; data?: string; error?: string; strangers?: string[] }

for (const driver of DRIVERS) {
  describe(`conntrack helpers through the ${driver} driver`, needsRoot(), () => {
    let lab: Lab;
    let netfilter: Netfilter;
    const get = async (mode: 'ftp-get' | 'tftp-get', port: number): Promise<Transfer> => {
      const r = await lab.exec('client', 'python3', [TRANSFER, mode, '--host', VIP, '--port', String(port), '--timeout', '2'], { timeoutMs: 20_000 });
      return parseJsonLine<Transfer>(r.stdout);
    };
    /** The rules for `helpers`, and no connection left over from the previous step. */
    const apply = async (helpers: boolean): Promise<void> => {
      await netfilter.sync(desired(farmsYaml(helpers)));
      await lab.exec('lb1', 'conntrack', ['-F'], { reject: false });
    };

    before(async () => {
      lab = await createLab(singleLbTopology({ backends: 1, mode: 'dnat' }));
      await lab.addAddress('lb1', 'front', `${VIP}/32`);
      const ftp = lab.spawn('b1', 'python3', [TRANSFER, 'ftp-server', '--port', '21', '--name', 'b1']);
      const tftp = lab.spawn('b1', 'python3', [TRANSFER, 'tftp-server', '--port', '69', '--name', 'b1']);
      await Promise.all([ftp.waitForLine('listening'), tftp.waitForLine('listening')]);
      netfilter = labNetfilter(lab, 'lb1', driver);
      await netfilter.adopt();
    });
    after(async () => {
      await netfilter?.removeAll().catch(() => undefined);
      await lab?.destroy();
    });

    it('passive FTP: the download succeeds with helper: ftp and fails without it', async () => {
      await apply(true);
      const withHelper = await get('ftp-get', 21);
      assert.equal(withHelper.ok, true, withHelper.error);
      assert.equal(withHelper.data, 'b1\n'.repeat(100));
      await apply(false);
      const without = await get('ftp-get', 21);
      assert.equal(without.ok, false, 'the data connection to the VIP reached the backend without the helper');
    });

    it('TFTP: the read succeeds with helper: tftp and fails without it (the reply comes from the backend, not the VIP)', async () => {
      await apply(true);
      const withHelper = await get('tftp-get', 69);
      assert.equal(withHelper.ok, true, withHelper.error);
      assert.equal(withHelper.data, 'b1\n'.repeat(100).slice(0, 500));
      await apply(false);
      const without = await get('tftp-get', 69);
      assert.equal(without.ok, false);
      // What the client saw instead: the server's answer, untranslated, from the backend's own address.
      assert.deepEqual(without.strangers, [backendIp(1)]);
    });
  });
}
