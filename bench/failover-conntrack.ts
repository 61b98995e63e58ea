// Established-connection survival through failover (snat mode, 3 backends): streams opened via
// lb1, lb1's agent SIGKILLed (lb2 takes over), then lb1 restarted (it preempts back), per trial.

import { sleep } from '../test/netns/topology.js';
import { Pair } from '../test/failover/pair.js';
import { waitServedBy } from '../test/failover/probe.js';
import { openStreams, survival } from '../test/failover/streams.js';

const STREAMS = 20;

interface ConntrackSurvival {
  readonly conntrackd: boolean;
  readonly external_cache: boolean;
  readonly trials: number;
  readonly streams_per_trial: number;
  /** Streams still exchanging data after lb1 -> lb2, over all trials. */
  readonly to_lb2: { alive: number; total: number; percent: number };
  /** The same streams after lb2 -> lb1 (lb1 restarted, resynced from lb2, preempting). */
  readonly back_to_lb1: { alive: number; total: number; percent: number };
  readonly errors: Record<string, number>;
}

const pct = (alive: number, total: number) => ({ alive, total, percent: total === 0 ? 0 : Math.round((alive / total) * 10_000) / 100 });

export async function conntrackSurvival(conntrackd: boolean, trials: number, externalCache = false): Promise<ConntrackSurvival> {
  const pair = await Pair.create({ backends: 3, mode: 'snat', advertMs: 100, conntrackd, externalCache });
  const totals = { toLb2: [0, 0], back: [0, 0] };
  const errors: Record<string, number> = {};
  const count = (into: number[], s: { alive: number; total: number; errors: Record<string, number> }) => {
    into[0]! += s.alive;
    into[1]! += s.total;
    for (const [k, n] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + n;
  };
  try {
    await waitServedBy(pair, 'lb1', 20_000);
    await pair.waitState('lb2', 'BACKUP', 20_000);
    for (let trial = 0; trial < trials; trial++) {
      const stream = await openStreams(pair, STREAMS);
      await sleep(1000);
      pair.agent('lb1').kill('SIGKILL');
      await pair.agent('lb1').wait(5000).catch(() => undefined);
      await waitServedBy(pair, 'lb2', 5000);
      const toLb2 = await survival(stream, Date.now(), 1500);
      count(totals.toLb2, toLb2);
      // lb1 returns as BACKUP, asks lb2 for a full resync (-n), then preempts and commits.
      await pair.start('lb1');
      await waitServedBy(pair, 'lb1', 20_000);
      await pair.waitState('lb2', 'BACKUP', 20_000);
      const back = await survival(stream, Date.now(), 1500);
      // Only the streams that made it to lb2 can make it back.
      count(totals.back, { alive: back.alive, total: toLb2.alive, errors: Object.fromEntries(Object.entries(back.errors).map(([k, n]) => [`back: ${k}`, n])) });
      stream.kill('SIGTERM');
      await stream.wait(5000).catch(() => undefined);
    }
  } finally {
    await pair.destroy();
  }
  return {
    conntrackd,
    external_cache: externalCache,
    trials,
    streams_per_trial: STREAMS,
    to_lb2: pct(totals.toLb2[0]!, totals.toLb2[1]!),
    back_to_lb1: pct(totals.back[0]!, totals.back[1]!),
    errors,
  };
}
