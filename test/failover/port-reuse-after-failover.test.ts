// Regression: after a failover with conntrackd, a client reusing a source port (normal under load:
// the kernel cycles through its port range in about a minute) followed the old flow's TIME_WAIT
// entry, which conntrackd had injected into the new MASTER, to the old backend, even one drained
// since: conntrackd does not sync the TCP flags the kernel needs to reopen such an entry for a
// new SYN. Found by the chaos soak (new connections reaching drained backends after a failover).
// The old MASTER itself reopens its own entries correctly; the new one must too.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { VIP, sleep, waitFor } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { connectFromPorts } from '../support/port-client.js';
import { runAgentctl } from '../support/agent.js';
import { LBS, Pair } from './pair.js';

const PORTS = Array.from({ length: 24 }, (_, i) => 45_000 + i);

describe('failover: a reused client port after a failover', needsRoot(), () => {
  it('is balanced by the new MASTER\'s rules, not sent after a synced TIME_WAIT entry to a drained backend', { timeout: 90_000 }, async () => {
    const pair = await Pair.create({ backends: 3, mode: 'dnat', advertMs: 100, conntrackd: true, preemptDelay: '2s' });
    try {
      await pair.waitState('lb1', 'MASTER');
      await pair.waitState('lb2', 'BACKUP');
      // One connection from each port, one after the other; the backend that answered each.
      const connect = () => connectFromPorts(pair.lab, 'client', VIP, 80, PORTS, { timeoutMs: 1500, oneByOne: true });
      const before = await connect();
      const onB1 = PORTS.filter((_, i) => before[i] === 'b1');
      assert.ok(onB1.length > 0, `no port reached b1 first: ${before.join(' ')}`);
      // Closed flows are synced to lb2 as they reach TIME_WAIT.
      await sleep(1500);
      for (const lb of LBS) assert.equal((await runAgentctl(pair.dirs[lb].socket, ['backend', 'web', 'b1', 'drain'])).exitCode, 0);
      pair.agent('lb1').kill('SIGKILL');
      await waitFor(async () => (await pair.vipHolders()).join() === 'lb2', { timeoutMs: 10_000, what: 'lb2 to hold the VIP' });
      await pair.waitState('lb2', 'MASTER');
      await sleep(500);
      const after = await connect();
      const stuck = PORTS.filter((p, i) => after[i] === 'b1').map((p) => `${p}`);
      assert.deepEqual(stuck, [], `ports that reached the drained b1 through lb2: ${stuck.join(', ')} (before: ${before.join(' ')}; after: ${after.join(' ')})`);
      assert.ok(after.every((b) => b === 'b2' || b === 'b3'), `after the failover: ${after.join(' ')}`);
    } finally {
      await pair.destroy();
    }
  });
});
