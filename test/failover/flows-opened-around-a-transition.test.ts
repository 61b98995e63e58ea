// Regression: with conntrackd, streams opened around a VRRP transition broke at the next failover.
// A node that has just given the VIP up (the end of a split brain, or right after a takeover) still
// receives new flows while the client's and the backends' ARP caches point at it, and tracks them
// itself, with the kernel's strict TCP window checks. The flows then run through the peer, which
// only has conntrackd's injected copies; when the node takes over again, its own entries' windows
// are far behind, the kernel marks the packets INVALID and leaves them un-NATed, and the VIP's own
// stack resets the connections. Found by the chaos soak (all streams opened just after a VRRP link
// cut ended broke at the next failover). Here the ARP entries are pinned to the BACKUP while the
// streams open, as the caches were by themselves in the soak.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VIP, sleep } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { FLOATING_BACK, Pair, type LbName } from './pair.js';
import { waitServedBy } from './probe.js';
import { openStreams, survival } from './streams.js';

const STREAMS = 10;
const BACKENDS = ['b1', 'b2', 'b3'];

describe('failover: flows opened around a VRRP transition (conntrackd)', needsRoot(), () => {
  it(`${STREAMS} streams the BACKUP forwarded first, then its peer, survive the BACKUP taking over`, { timeout: 90_000 }, async (t) => {
    const pair = await Pair.create({ backends: BACKENDS.length, mode: 'dnat', advertMs: 100, conntrackd: true });
    try {
      await pair.waitState('lb1', 'MASTER');
      await pair.waitState('lb2', 'BACKUP');
      await waitServedBy(pair, 'lb1', 5000);
      const mac = async (lb: LbName, dev: string) => (await pair.lab.exec(lb, 'cat', [`/sys/class/net/${dev}/address`])).stdout.trim();
      /** Points the client's VIP and the backends' gateway at `lb`'s interfaces. */
      const arpTo = async (lb: LbName, nud: 'permanent' | 'stale') => {
        await pair.lab.exec('client', 'ip', ['neigh', 'replace', VIP, 'lladdr', await mac(lb, 'front'), 'dev', 'front', 'nud', nud]);
        const back = await mac(lb, 'back');
        for (const b of BACKENDS) await pair.lab.exec(b, 'ip', ['neigh', 'replace', FLOATING_BACK, 'lladdr', back, 'dev', 'back', 'nud', nud]);
      };

      // lb2, BACKUP, forwards the streams' handshakes and first echoes: its own entries.
      await arpTo('lb2', 'permanent');
      const stream = await openStreams(pair, STREAMS);
      await sleep(1000);
      // The caches learn lb1 again (stale: a gratuitous ARP may still replace them), and the
      // streams carry on through lb1, on the copies conntrackd injected there.
      await arpTo('lb1', 'stale');
      const onLb1 = await survival(stream, Date.now(), 2500);
      t.diagnostic(`through lb1: ${JSON.stringify(onLb1)}`);
      assert.equal(onLb1.alive, STREAMS, `streams lost moving to lb1: ${JSON.stringify(onLb1)}`);

      pair.agent('lb1').kill('SIGKILL');
      await waitServedBy(pair, 'lb2', 5000);
      const after = await survival(stream, Date.now(), 2000);
      stream.kill('SIGTERM');
      t.diagnostic(`after lb2 took over: ${JSON.stringify(after)}`);
      assert.equal(after.total, STREAMS);
      assert.equal(after.alive, STREAMS, `only ${after.alive}/${STREAMS} survived lb2 taking over: ${JSON.stringify(after.errors)}`);
    } finally {
      await pair.destroy();
    }
  });
});
