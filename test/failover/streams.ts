// Long-lived TCP streams through the VIP (stream-client) and their fate across a failover.

import { VIP, parseJsonLine, sleep, waitFor, type NsProcess } from '../netns/topology.js';
import type { StreamReport } from '../fixtures/bin/lib/types.js';
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

/** SIGUSR1 makes stream-client print a report line; returns the next one. */
export async function streamReport(stream: NsProcess): Promise<StreamReport> {
  const seen = stream.lines.length;
  stream.kill('SIGUSR1');
  await waitFor(() => stream.lines.slice(seen).some((l) => l.startsWith('{')), { timeoutMs: 3000, what: 'a stream report' });
  return parseJsonLine<StreamReport>(stream.lines.slice(seen).filter((l) => l.startsWith('{')).join('\n'));
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
