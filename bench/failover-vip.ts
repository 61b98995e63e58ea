// VIP failover time between two real agents: the gap between the last reply served via lb1 and
// the first reply served via lb2, seen by a client opening connections at a steady rate.

import { VIP, parseJsonLine, sleep, waitFor } from '../test/netns/topology.js';
import type { RateReport } from '../test/fixtures/bin/lib/types.js';
import { Pair } from '../test/failover/pair.js';
import { waitServedBy } from '../test/failover/probe.js';
import { summarize } from './results.js';

/** How lb1 fails: its node drops off both networks (adverts stop), or its agent is SIGKILLed. */
type FailureKind = 'node-down' | 'agent-kill';

const RATE = 200;

interface VipFailoverResult {
  readonly advert_int_ms: number;
  readonly failure: FailureKind;
  readonly trials: number;
  readonly note: string;
  readonly failover_ms: ReturnType<typeof summarize>;
  readonly samples_ms: number[];
}

/**
 * The largest gap between consecutive replies that spans `cutAt`: before it lb1 answered, after it
 * only lb2 can (lb1 is off the network or has no keepalived). Connections started in the outage
 * complete late (SYN retransmit), so replies are ordered by completion time.
 */
function failoverGap(report: RateReport, cutAt: number): { lastLb1: number; firstLb2: number } | undefined {
  const done = report.records.filter((r) => r.backend !== undefined).map((r) => r.start + r.ms).sort((a, b) => a - b);
  const lastLb1 = done.filter((t) => t <= cutAt).at(-1);
  const firstLb2 = done.find((t) => t > cutAt);
  return lastLb1 === undefined || firstLb2 === undefined ? undefined : { lastLb1, firstLb2 };
}

async function cut(pair: Pair, failure: FailureKind): Promise<void> {
  switch (failure) {
    case 'node-down':
      await pair.lab.setLink('lb1', 'front', 'down');
      await pair.lab.setLink('lb1', 'back', 'down');
      return;
    case 'agent-kill':
      pair.agent('lb1').kill('SIGKILL');
      return;
    default: {
      const never: never = failure;
      throw new Error(`unknown failure ${String(never)}`);
    }
  }
}

async function restore(pair: Pair, failure: FailureKind): Promise<void> {
  if (failure === 'node-down') {
    await pair.lab.setLink('lb1', 'front', 'up');
    await pair.lab.setLink('lb1', 'back', 'up');
  } else {
    await pair.agent('lb1').wait(5000).catch(() => undefined);
    await pair.start('lb1');
  }
  // preempt: lb1 takes the VIP back; wait until it serves again and lb2 is BACKUP.
  await waitServedBy(pair, 'lb1', 20_000);
  await pair.waitState('lb2', 'BACKUP', 20_000);
}

export async function vipFailover(advertMs: number, failure: FailureKind, trials: number): Promise<VipFailoverResult> {
  const pair = await Pair.create({ backends: 2, mode: 'dnat', advertMs });
  const samples: number[] = [];
  try {
    await waitServedBy(pair, 'lb1', 20_000);
    await pair.waitState('lb2', 'BACKUP', 20_000);
    // Detection takes ~3.6 adverts; give the client room on both sides of it.
    const runMs = Math.max(3000, advertMs * 8 + 2000);
    for (let trial = 0; trial < trials; trial++) {
      const client = pair.lab.spawnFixture('client', 'conn-client', [
        '--target', `${VIP}:80`, '--rate', String(RATE), '--duration-ms', String(runMs), '--timeout-ms', '3000',
      ]);
      // Spread the failure over an advert interval, as a real one would be.
      await sleep(700 + Math.floor(Math.random() * advertMs));
      await cut(pair, failure);
      // After the cut is complete: a reply until then may still come from lb1, none after it.
      const cutAt = Date.now();
      await client.wait(runMs + 10_000);
      const report = parseJsonLine<RateReport>(client.lines.join('\n'));
      const gap = failoverGap(report, cutAt);
      if (!gap) throw new Error(`trial ${trial}: no reply on one side of the failure (${JSON.stringify(report.errors)})`);
      // The replies after the cut came through lb2: it holds the VIP alone.
      await waitFor(async () => {
        const holders = await pair.vipHolders();
        return holders.length === 1 && holders[0] === 'lb2';
      }, { timeoutMs: 5000, what: 'lb2 to hold the VIP alone' });
      samples.push(gap.firstLb2 - gap.lastLb1);
      await restore(pair, failure);
    }
  } finally {
    await pair.destroy();
  }
  return {
    advert_int_ms: advertMs,
    failure,
    trials,
    note: `client opens ${RATE} connections/s; failover = first reply via lb2 - last reply via lb1`,
    failover_ms: summarize(samples),
    samples_ms: samples,
  };
}
