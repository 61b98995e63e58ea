// Long-lived TCP streams through the VIP (stream-client) and their fate across a failover.

import { VIP, sleep, type NsProcess } from '../netns/topology.js';
import { streamReport } from '../support/streams.js';
import type { Pair } from './pair.js';

export const STREAM_INTERVAL_MS = 100;

/** Opens `count` streams through the VIP and waits until all are connected and echoing. */
export async function openStreams(pair: Pair, count: number): Promise<NsProcess> {
  const stream = pair.lab.spawnFixture('client', 'stream-client', [
    '--target', `${VIP}:80`, '--count', String(count), '--interval-ms', String(STREAM_INTERVAL_MS), '--timeout-ms', '3000',
  ]);
  const ready = await stream.waitForLine(/^ready \d+/, 10_000);
  if (ready !== `ready ${count}`) throw new Error(`stream-client: ${ready}, wanted ${count} connections`);
  return stream;
}

export interface Survival {
  readonly total: number;
  /** Still ok and echoed after `since`. */
  readonly alive: number;
  readonly errors: Record<string, number>;
}

/** How many streams kept exchanging data past `since` (epoch ms), after letting them run `settleMs`. */
export async function survival(stream: NsProcess, since: number, settleMs: number): Promise<Survival> {
  await sleep(settleMs);
  const report = await streamReport(stream);
  const errors: Record<string, number> = {};
  for (const c of report.connections) if (c.error) errors[c.error] = (errors[c.error] ?? 0) + 1;
  const alive = report.connections.filter((c) => c.ok && c.lastOkMs !== null && c.lastOkMs > since).length;
  return { total: report.connections.length, alive, errors };
}
