// VIP failover between two real agents (dnat mode, advert_int 100 ms, preempt): one MASTER, the
// higher priority; keepalived killed, the agent killed, the agent hung; the standby needs no rule change.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, waitFor } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { LIVENESS_BOUND_MS } from '../../agent/vrrp/liveness.js';
import { FLOATING_BACK, Pair, type LbName } from './pair.js';
import { statesOf, vipAnswers, waitServedBy } from './probe.js';
import { alive } from '../support/process.js';

const FAILOVER_BOUND_MS = 1000;

/** The agent's chains in one table, as iptables-save prints them (no counters). */
async function agentRules(pair: Pair, lb: LbName): Promise<string[]> {
  const out: string[] = [];
  for (const table of ['mangle', 'nat', 'filter']) {
    const r = await pair.lab.exec(lb, 'iptables-save', ['-t', table]);
    out.push(...r.stdout.split('\n').filter((l) => /^-A HA|^-I |^:HA/.test(l) || / -j HAGENT-/.test(l)));
  }
  return out.sort();
}


describe('VIP failover with keepalived (netns pair, dnat)', needsRoot(), () => {
  let pair: Pair;
  before(async () => {
    pair = await Pair.create({ backends: 2, mode: 'dnat', advertMs: 100 });
  });
  after(() => pair?.destroy());

  it('both agents up: exactly one MASTER, the higher priority, holds the VIP and the gateway; status says MASTER / BACKUP', async () => {
    await pair.waitState('lb1', 'MASTER');
    await pair.waitState('lb2', 'BACKUP');
    assert.deepEqual(await pair.vipHolders(), ['lb1']);
    const back = await pair.lab.exec('lb1', 'ip', ['-o', '-4', 'addr', 'show', 'dev', 'back']);
    assert.match(back.stdout, new RegExp(` ${FLOATING_BACK}/24 `), 'the extra address moves with the VIP');
    assert.deepEqual(await statesOf(pair), { lb1: 'MASTER', lb2: 'BACKUP' });
    assert.ok(await vipAnswers(pair));
  });

  it('hot standby: the BACKUP has the same rules applied, and taking over changes none of them', async () => {
    const lb2Before = await agentRules(pair, 'lb2');
    assert.ok(lb2Before.some((l) => l.startsWith('-A HAM-web ')), 'the BACKUP keeps the MARK chain');
    assert.deepEqual(lb2Before, await agentRules(pair, 'lb1'));
    process.kill(pair.keepalivedPid('lb1'), 'SIGKILL');
    await waitServedBy(pair, 'lb2', 5000);
    assert.deepEqual(await agentRules(pair, 'lb2'), lb2Before, 'failover needed no rule change on the new MASTER');
    await pair.waitState('lb1', 'MASTER', 10_000);
  });

  it(`SIGKILL of lb1's keepalived: lb2 serves new connections within ${FAILOVER_BOUND_MS} ms; the agent restarts keepalived and lb1 preempts`, async (t) => {
    await waitServedBy(pair, 'lb1', 5000);
    const pid = pair.keepalivedPid('lb1');
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const servedAt = await waitServedBy(pair, 'lb2', 5000);
    t.diagnostic(`lb2 served ${servedAt - killedAt} ms after keepalived's SIGKILL`);
    assert.ok(servedAt - killedAt <= FAILOVER_BOUND_MS, `lb2 served ${servedAt - killedAt} ms after the kill`);
    assert.equal((await pair.status('lb2')).vrrp.state, 'MASTER');
    await pair.agent('lb1').waitForLine('keepalived exited; restarting it', 5000);
    await waitFor(() => pair.keepalivedPid('lb1') !== pid && alive(pair.keepalivedPid('lb1')), { timeoutMs: 5000, what: 'a new keepalived on lb1' });
    await pair.waitState('lb1', 'MASTER', 10_000);
    await waitServedBy(pair, 'lb1', 5000);
    assert.deepEqual(await statesOf(pair), { lb1: 'MASTER', lb2: 'BACKUP' });
  });

  it(`SIGKILL of lb1's agent takes its keepalived down too: lb2 serves within ${FAILOVER_BOUND_MS} ms; lb1 back preempts`, async (t) => {
    const keepalived = pair.keepalivedPid('lb1');
    const killedAt = Date.now();
    pair.agent('lb1').kill('SIGKILL');
    const servedAt = await waitServedBy(pair, 'lb2', 5000);
    t.diagnostic(`lb2 served ${servedAt - killedAt} ms after the agent's SIGKILL`);
    assert.ok(servedAt - killedAt <= FAILOVER_BOUND_MS, `lb2 served ${servedAt - killedAt} ms after the kill`);
    await waitFor(() => !alive(keepalived), { timeoutMs: 5000, what: "lb1's keepalived to exit with its agent" });
    await pair.start('lb1');
    await pair.waitState('lb1', 'MASTER', 10_000);
    await waitServedBy(pair, 'lb1', 5000);
    assert.deepEqual(await statesOf(pair), { lb1: 'MASTER', lb2: 'BACKUP' });
  });

  it(`a hung (SIGSTOPped) agent: lb1 leaves MASTER within ${LIVENESS_BOUND_MS} ms and takes it back once resumed`, async (t) => {
    const agent = pair.agent('lb1');
    const logged = pair.transitions('lb1').length;
    const stoppedAt = Date.now();
    agent.kill('SIGSTOP');
    try {
      const leftAt = await waitFor(async () => ((await pair.vipHolders()).includes('lb1') ? undefined : Date.now()), { timeoutMs: 5000, intervalMs: 20, what: 'lb1 to drop the VIP' });
      t.diagnostic(`lb1 left MASTER ${leftAt - stoppedAt} ms after its agent was stopped`);
      // Polling adds up to one interval; the bound is grace + keepalived's 1 s script interval.
      assert.ok(leftAt - stoppedAt <= LIVENESS_BOUND_MS + 300, `lb1 left MASTER ${leftAt - stoppedAt} ms after its agent hung`);
      await waitServedBy(pair, 'lb2', 3000);
    } finally {
      agent.kill('SIGCONT');
    }
    // The resumed agent first reads what keepalived wrote to the FIFO while it was stopped.
    await waitFor(() => {
      const since = pair.transitions('lb1').slice(logged);
      return since.includes('FAULT') && since.at(-1) === 'MASTER';
    }, { timeoutMs: 10_000, what: `lb1 to log FAULT then MASTER (seen: ${pair.transitions('lb1').slice(logged).join(', ')})` });
    await sleep(200);
    assert.deepEqual(await statesOf(pair), { lb1: 'MASTER', lb2: 'BACKUP' });
  });
});
