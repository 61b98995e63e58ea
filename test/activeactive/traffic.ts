// The client's side of the active-active lab: long-lived streams through a VIP, bursts of new
// connections, and what became of them.

import { parseJsonLine, sleep, type NsProcess } from '../netns/topology.js';
import { connReport } from '../netns/fixtures.js';
import { streamReport } from '../support/streams.js';
import type { ConnReport, RateReport, StreamConn } from '../fixtures/bin/lib/types.js';
import { PORT, type ActiveActive } from './topology.js';

export const STREAM_INTERVAL_MS = 100;
/** An echo not back within this is a broken stream; above TCP's first retransmissions (RTO 200 ms, 400 ms). */
export const STREAM_TIMEOUT_MS = 3000;

/** Opens `count` streams to the VIP and waits until all are connected and echoing. */
export async function openStreams(aa: ActiveActive, vip: string, count: number): Promise<NsProcess> {
  const stream = aa.lab.spawnFixture('client', 'stream-client', [
    '--target', `${vip}:${PORT}`, '--count', String(count), '--interval-ms', String(STREAM_INTERVAL_MS), '--timeout-ms', String(STREAM_TIMEOUT_MS),
  ]);
  const ready = await stream.waitForLine(/^ready \d+/, 15_000);
  if (ready !== `ready ${count}`) throw new Error(`stream-client to ${vip}: ${ready}, wanted ${count} connections`);
  return stream;
}

export interface Fate {
  readonly total: number;
  /** Never failed, and echoed after `since`. */
  readonly alive: StreamConn[];
  readonly broken: StreamConn[];
  readonly errors: Record<string, number>;
}

/** Lets the streams run `settleMs` more, then sorts them into alive (echoing after `since`, epoch ms) and broken. */
export async function fate(stream: NsProcess, since: number, settleMs: number): Promise<Fate> {
  await sleep(settleMs);
  const report = await streamReport(stream);
  const alive = report.connections.filter((c) => c.ok && c.lastOkMs !== null && c.lastOkMs > since);
  const broken = report.connections.filter((c) => !alive.includes(c));
  const errors: Record<string, number> = {};
  for (const c of broken) errors[c.error ?? 'stalled'] = (errors[c.error ?? 'stalled'] ?? 0) + 1;
  return { total: report.connections.length, alive, broken, errors };
}

/** `count` new connections to the VIP, 16 at a time. */
export function burst(aa: ActiveActive, vip: string, count: number, connTimeoutMs = 2000): Promise<ConnReport> {
  return connReport(aa.lab, `${vip}:${PORT}`, { count, concurrency: 16, connTimeoutMs }, { timeoutMs: 120_000 });
}

/** New connections at `rate` per second for `durationMs`, each recorded with its start (epoch ms). */
export async function paced(aa: ActiveActive, vip: string, rate: number, durationMs: number, connTimeoutMs: number): Promise<RateReport> {
  const r = await aa.lab.execFixture('client', 'conn-client', [
    '--target', `${vip}:${PORT}`, '--rate', String(rate), '--duration-ms', String(durationMs), '--timeout-ms', String(connTimeoutMs),
  ], { timeoutMs: durationMs + 30_000 });
  return parseJsonLine<RateReport>(r.stdout);
}

/** Per-LB share of a count delta, in %. */
export function percentages<K extends string>(before: Record<K, number>, after: Record<K, number>): Record<K, number> {
  const keys = Object.keys(after) as K[];
  const deltas = keys.map((k) => after[k] - before[k]);
  const total = deltas.reduce((a, b) => a + b, 0);
  return Object.fromEntries(keys.map((k, i) => [k, total === 0 ? 0 : Math.round((deltas[i]! / total) * 1000) / 10])) as Record<K, number>;
}
