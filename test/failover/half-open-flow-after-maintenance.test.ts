// Regression (chaos soak, seed 424242, 137 s): two new connections reached b2 25 s after it was
// put in maintenance. Each came from a client port whose earlier attempt had timed out against a
// blackholed b2: the attempt left a half-open entry (SYN_SENT, 120 s, DNAT to b2) that conntrackd
// carried to the peer and, through the peer's resyncs and a split brain, back into the VIP
// holder's kernel after both agents had cut b2's flows. A SYN from the same port is taken by the
// kernel as a retransmission of that attempt and follows the entry's DNAT, not the MARK chain.
// A half-open flow holds no connection worth carrying: conntrackd now syncs TCP flows only from
// ESTABLISHED on.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_IP, VIP, sleep, waitFor } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { connectFromPorts } from '../support/port-client.js';
import { runAgentctl } from '../support/agent.js';
import { LBS, Pair } from './pair.js';

const PORTS = Array.from({ length: 30 }, (_, i) => 46_000 + i);
/** The client's packets to b1 vanish; the LBs' checks still pass, so nothing cuts the half-open entries. */
const BLACKHOLE = ['INPUT', '-p', 'tcp', '--dport', '8080', '-s', CLIENT_IP, '-j', 'DROP'];

/** One stream that stays open. */
const STREAM_PORT = 46_100;
const STREAM = `const s = require('net').connect({ host: '${VIP}', port: 80, localPort: ${STREAM_PORT} }); s.on('error', () => {}); setTimeout(() => {}, 60000);`;

describe('failover: a half-open flow after maintenance', needsRoot(), () => {
  it('is not carried to the peer, so a reused client port after a failover never reaches the backend in maintenance', { timeout: 90_000 }, async () => {
    const pair = await Pair.create({ backends: 3, mode: 'dnat', advertMs: 100, conntrackd: true, preemptDelay: '2s' });
    try {
      await pair.waitState('lb1', 'MASTER');
      await pair.waitState('lb2', 'BACKUP');
      // All at once, each given 2.5 s (a SYN is sent again after 1 s): the backend, or 'timeout'.
      const connect = (ports: number[]) => connectFromPorts(pair.lab, 'client', VIP, 80, ports, { timeoutMs: 2500 });

      // A flow that completes its handshake is carried, and its destroy too.
      const stream = pair.lab.spawn('client', process.execPath, ['-e', STREAM]);
      try {
        await waitFor(async () => (await pair.lab.exec('lb2', 'conntrack', ['-L', '-p', 'tcp', '--orig-port-src', String(STREAM_PORT), '--state', 'ESTABLISHED'])).stdout.includes(`sport=${STREAM_PORT} `) || undefined,
          { timeoutMs: 5000, what: 'lb2 to hold the established stream' });
        await pair.lab.exec('lb1', 'conntrack', ['-D', '-p', 'tcp', '--orig-port-src', String(STREAM_PORT)]);
        await waitFor(async () => (await pair.lab.exec('lb2', 'conntrack', ['-L', '-p', 'tcp', '--orig-port-src', String(STREAM_PORT)])).stdout.trim() === '' || undefined,
          { timeoutMs: 5000, what: 'the deleted stream to leave lb2' });
      } finally {
        stream.kill('SIGKILL');
      }

      // Attempts that drew b1 time out and leave SYN_SENT entries on lb1.
      await pair.lab.exec('b1', 'iptables', ['-I', ...BLACKHOLE]);
      const first = await connect(PORTS);
      const halfOpen = PORTS.filter((_, i) => first[i] === 'timeout');
      assert.ok(halfOpen.length > 0, `no attempt drew b1: ${first.join(' ')}`);
      assert.ok(first.every((b) => b === 'timeout' || b === 'b2' || b === 'b3'), `first round: ${first.join(' ')}`);

      // The same flows as lb1's kernel tracks them, and what lb2 got of them.
      const entries = async (lb: 'lb1' | 'lb2') => {
        const out = (await pair.lab.exec(lb, 'conntrack', ['-L', '-p', 'tcp', '-d', VIP])).stdout;
        return out.split('\n').filter((l) => halfOpen.some((p) => l.includes(` sport=${p} `)));
      };
      assert.ok((await entries('lb1')).some((l) => / SYN_SENT /.test(l)), 'lb1 tracks the half-open attempts');
      await sleep(500);
      assert.deepEqual(await entries('lb2'), [], 'lb2 holds copies of half-open flows');

      // b1 to maintenance on both nodes (both cut its flows), then reachable again; lb2 asks for a
      // full resync, as after a restart or a FAULT; then lb1 dies and lb2 takes the VIP.
      for (const lb of LBS) assert.equal((await runAgentctl(pair.dirs[lb].socket, ['backend', 'web', 'b1', 'maintenance'])).exitCode, 0);
      await pair.lab.exec('b1', 'iptables', ['-D', ...BLACKHOLE]);
      await pair.lab.exec('lb2', 'conntrackd', ['-C', `${pair.runDir('lb2')}/conntrackd.conf`, '-n']);
      await sleep(500);
      assert.deepEqual(await entries('lb2'), [], 'lb2 got half-open flows in the resync');
      pair.agent('lb1').kill('SIGKILL');
      await waitFor(async () => (await pair.vipHolders()).join() === 'lb2', { timeoutMs: 10_000, what: 'lb2 to hold the VIP' });
      await pair.waitState('lb2', 'MASTER');
      await sleep(500);

      const after = await connect(halfOpen);
      const onB1 = halfOpen.filter((_, i) => after[i] === 'b1');
      assert.deepEqual(onB1, [], `reused ports that reached b1 in maintenance through lb2 (after: ${after.join(' ')})`);
      assert.ok(after.every((b) => b === 'b2' || b === 'b3'), `after the failover: ${after.join(' ')}`);
    } finally {
      await pair.destroy();
    }
  });
});
