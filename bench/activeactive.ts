// Benchmark: an LB of an active-active group going silent (every frame dropped, then killed).
// Per trial: the router's detection time (BFD, then BIRD takes the LB out of the ECMP route:
// from the drop handed to the switch's kernel to the router kernel's route change, as stamped by
// a real-time `ip -ts monitor route` started before the fault; see test/activeactive/silent.ts),
// the client-visible gap (the span over which new connections, paced at 100/s with a 1 s limit,
// failed), and the share of 60 long-lived streams that carried on; the LB is brought back between
// trials. dsr + hash-5tuple, nftables; `npm run bench -- activeactive` (BENCH_TRIALS, default 10).

import { loadavg } from 'node:os';
import { summarize, recordResult } from './results.js';
import { ActiveActive, BFD_INTERVAL_MS, BFD_MULTIPLIER, LBS } from '../test/activeactive/topology.js';
import { FARMS } from '../test/activeactive/config.js';
import { openStreams } from '../test/activeactive/traffic.js';
import { lbReturn, lbSilent } from '../test/activeactive/silent.js';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 10);
const STREAMS = 60;
const RATE = 100;
const round2 = (n: number) => Math.round(n * 100) / 100;

async function main(): Promise<void> {
  const farm = FARMS.dsr;
  // The machine may be shared: the load around the run says how much to trust the tail.
  const loadBefore = loadavg();
  const aa = await ActiveActive.create({ driver: 'nftables', farms: [farm] });
  const detect: number[] = [];
  const gap: number[] = [];
  const back: number[] = [];
  let alive = 0;
  let total = 0;
  let failedConns = 0;
  let failedOutside = 0;
  try {
    for (let trial = 0; trial < TRIALS; trial++) {
      const dead = LBS[trial % LBS.length]!;
      const stream = await openStreams(aa, farm.vip, STREAMS);
      const r = await lbSilent(aa, farm.vip, stream, { dead, rate: RATE, connTimeoutMs: 1000 });
      back.push(await lbReturn(aa, dead));
      await stream.stop(2000);
      detect.push(r.detectMs);
      gap.push(r.gapMs);
      alive += r.streams.alive.length;
      total += r.streams.total;
      failedConns += r.paced?.failures ?? 0;
      failedOutside += r.failedOutside;
      process.stderr.write(`activeactive: trial ${trial + 1}/${TRIALS}: ${dead} detected after ${Math.round(r.detectMs)} ms, gap ${r.gapMs} ms (${r.paced?.failures ?? 0} new connections failed), streams ${r.streams.alive.length}/${r.streams.total}\n`);
    }
  } finally {
    await aa.destroy();
  }
  const result = {
    mode: 'dsr', algorithm: 'hash-5tuple', driver: 'nftables', lbs: LBS.length,
    bfd: { interval_ms: BFD_INTERVAL_MS, multiplier: BFD_MULTIPLIER },
    trials: TRIALS,
    load_average: { before: loadBefore.map(round2), after: loadavg().map(round2) },
    router_detection_ms: summarize(detect),
    client_gap_ms: summarize(gap),
    lb_return_announced_ms: summarize(back),
    stream_survival_pct: Math.round((alive / total) * 10000) / 100,
    streams: { alive, total },
    new_connections: { rate_per_s: RATE, failed: failedConns, failed_outside_detection: failedOutside },
    notes: 'detection = wall-clock from the drop rule handed to the switch\'s kernel (nft started beforehand, at real-time priority) to the router kernel\'s VIP route without the LB (stamp of a real-time `ip -ts monitor route` in the router namespace); '
      + 'lb return = agent restart to the route via all three (same monitor); gap = span of the start times of failed new connections; load_average = 1/5/15 min before and after the run',
  };
  recordResult('activeactive', result);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

await main();
