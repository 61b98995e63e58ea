// Regression (found reviewing the chaos soak's stale half-open flows): a connection stays NEW until
// its first reply, so a retransmitted SYN went through the MARK chain again, drew another backend,
// and CONNMARK --save-mark stored that backend's mark over the one the flow's DNAT had gone to. A
// cut by mark (cut_on_down, maintenance) then missed such flows, and they kept a client's reused
// port pinned to the dead backend for the two minutes of SYN_SENT. Only an unmarked connection is
// dispatched now.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { desiredState as desired } from '../support/config.js';
import { IptablesRestore } from '../../agent/apply/iptables.js';
import { ConntrackCli } from '../../agent/apply/conntrack.js';
import { createLab, singleLbTopology, labBackendsYaml, backendIp, CLIENT_IP, VIP, type Lab } from '../netns/topology.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';
import { connectFromPorts } from '../support/port-client.js';

const YAML = `node: { id: lb1 }
farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    backends:
${labBackendsYaml([1, 1, 1])}
`;
const PORTS = Array.from({ length: 30 }, (_, i) => 48_000 + i);
/** The client's packets to b1 vanish (the LB's view of b1 is not involved: no checks run here). */
const BLACKHOLE = ['INPUT', '-p', 'tcp', '--dport', '8080', '-s', CLIENT_IP, '-j', 'DROP'];

describe('iptables: a retransmitted SYN', needsRoot(), () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    await Promise.all([1, 2, 3].map((i) => lab.serveName(`b${i}`)));
  });
  after(() => lab?.destroy());

  it('keeps the mark of the backend its flow went to, so a cut by that mark removes every attempt', { timeout: 60_000 }, async () => {
    const state = desired(YAML);
    const netfilter = new IptablesRestore(new NsRunner(lab.nsName('lb1')));
    await netfilter.adopt();
    await netfilter.sync(state);
    const b1 = state.farms[0]!.backends.find((b) => b.name === 'b1')!.mark;
    await lab.exec('b1', 'iptables', ['-I', ...BLACKHOLE]);

    // All at once, each given 3.5 s: SYNs that meet no answer are sent again after 1 s and 3 s.
    const out = await connectFromPorts(lab, 'client', VIP, 80, PORTS, { timeoutMs: 3500 });
    const lost = PORTS.filter((_, i) => out[i] === 'timeout');
    assert.ok(lost.length >= 3, `too few attempts drew b1: ${out.join(' ')}`);

    // The half-open flows: the DNAT went to b1 (reply source), whatever mark they carry.
    const halfOpen = async () => (await lab.exec('lb1', 'conntrack', ['-L', '-p', 'tcp', '-d', VIP, '--state', 'SYN_SENT'])).stdout
      .split('\n').filter((l) => l.includes(`src=${backendIp(1)} `));
    const entries = await halfOpen();
    assert.equal(entries.length, lost.length, entries.join('\n'));
    const wrong = entries.filter((l) => !l.includes(` mark=${b1} `));
    assert.deepEqual(wrong, [], `half-open flows to b1 (mark ${b1}) saved with another backend's mark`);

    await new ConntrackCli(new NsRunner(lab.nsName('lb1'))).cut(b1, state.markMask);
    assert.deepEqual(await halfOpen(), [], 'half-open flows to b1 left after the cut of its mark');
  });
});
