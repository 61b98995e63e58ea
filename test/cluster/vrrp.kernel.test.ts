// Cluster features that need real VRRP: the `master` health policy (the BACKUP applies the
// MASTER's view) and split brain (VRRP between the LBs cut, both MASTER) reported within 3 s.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { backendIp, waitFor, CLIENT_IP, type NsProcess } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { agentLogs, markedBackends, waitForChain } from '../support/agent.js';
import { Pair, pairConfig, LBS } from '../failover/pair.js';

const REDIS_PORT = 6391;

describe('cluster with VRRP', needsRoot(), () => {
  let pair: Pair;
  let redis: NsProcess;
  /** Makes one LB's probes to b1 fail without touching b1 itself. */
  const blind = (lb: string) => pair.lab.exec(lb, 'iptables', ['-I', 'OUTPUT', '-d', backendIp(1), '-p', 'tcp', '--dport', '8080', '-j', 'REJECT', '--reject-with', 'tcp-reset']);
  const unblind = (lb: string) => pair.lab.exec(lb, 'iptables', ['-D', 'OUTPUT', '-d', backendIp(1), '-p', 'tcp', '--dport', '8080', '-j', 'REJECT', '--reject-with', 'tcp-reset']);

  before(async () => {
    pair = await Pair.create({ backends: 2, mode: 'dnat', advertMs: 100 }, false);
    // Redis lives on the client side of the lab, reachable from both LBs whatever VRRP does.
    redis = pair.lab.spawn('client', 'redis-server', ['--port', String(REDIS_PORT), '--bind', CLIENT_IP, '--save', '', '--appendonly', 'no', '--protected-mode', 'no']);
    await redis.waitForLine(/Ready to accept connections/, 10_000);
    for (const lb of LBS) {
      pair.dirs[lb].write(`${pairConfig(pair.dirs[lb], lb, pair.opts)}cluster: { redis: "redis://${CLIENT_IP}:${REDIS_PORT}/0", health_policy: master, heartbeat: 200ms, heartbeat_ttl: 1s }\n`);
      await pair.start(lb);
    }
    await pair.waitState('lb1', 'MASTER');
    await pair.waitState('lb2', 'BACKUP');
    for (const lb of LBS) await waitForChain(pair.lab, lb, 'web', [0, 1], 5000);
  });
  after(async () => {
    await redis?.stop(2000);
    await pair?.destroy();
  });

  it('master policy: the BACKUP applies what the MASTER sees, not its own probes', async () => {
    await blind('lb2');
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(await markedBackends(pair.lab, 'lb2', 'web'), [0, 1], 'the BACKUP trusted its own failing probes');
    await unblind('lb2');
    await blind('lb1');
    await waitForChain(pair.lab, 'lb1', 'web', [1], 3000);
    await waitForChain(pair.lab, 'lb2', 'web', [1], 3000);
    const reason = agentLogs(pair.agent('lb2'), (e) => e.backend === 'b1' && e.to === 'down')[0]?.reason;
    assert.match(String(reason), /master policy/);
    await unblind('lb1');
    for (const lb of LBS) await waitForChain(pair.lab, lb, 'web', [0, 1], 5000);
  });

  it('split brain: with VRRP between the LBs cut both become MASTER, and both report it within 3 s', async () => {
    for (const lb of LBS) await pair.lab.exec(lb, 'iptables', ['-I', 'INPUT', '-p', 'vrrp', '-j', 'DROP']);
    const bothMaster = await pair.waitState('lb2', 'MASTER', 5000);
    for (const lb of LBS) {
      await waitFor(async () => {
        const status = (await pair.status(lb)) as unknown as { cluster: { split_brain?: { masters: string[] }[] } };
        return (status.cluster.split_brain ?? []).some((s) => s.masters.length === 2);
      }, { timeoutMs: 3000, intervalMs: 50, what: `${lb} to report split brain` });
      assert.ok(agentLogs(pair.agent(lb), (e) => String(e.msg).startsWith('split brain')).length >= 1);
    }
    assert.ok(Date.now() - bothMaster < 3000, `reported ${Date.now() - bothMaster} ms after both became MASTER`);
  });
});
