// The central active-active case, shared by the dsr and tunnel suites, the lab and the benchmark:
// one LB goes silent (every frame to and from it dropped), the router's BFD notices and BIRD
// takes it out of the ECMP route, its processes are then killed; later it comes back. The times
// are the kernels': the drop handed to the switch's nft, the route change as `ip monitor` saw it
// (route-monitor.ts), so a busy machine's process start-ups do not count as the router's.

import type { NsProcess } from '../netns/topology.js';
import { sleep } from '../netns/topology.js';
import type { RateReport } from '../fixtures/bin/lib/types.js';
import { LBS, LB_ADDR, type ActiveActive, type LbName } from './topology.js';
import { RouteMonitor } from './route-monitor.js';
import { fate, paced, type Fate } from './traffic.js';

export interface SilentResult {
  readonly dead: LbName;
  /** From the drop handed to the switch's kernel to the router's kernel route without the LB (both wall-clock). */
  readonly detectMs: number;
  readonly silentAt: number;
  readonly detectedAt: number;
  readonly streams: Fate;
  /** New connections paced across the event (when asked for). */
  readonly paced?: RateReport;
  /** Connections that failed and started outside [silentAt, detectedAt]. */
  readonly failedOutside: number;
  /** The client-visible gap: from the first failing connection's start to the last one's. */
  readonly gapMs: number;
}

export interface SilentOptions {
  readonly dead?: LbName;
  /** Pace new connections across the event (rate per second); none when 0. */
  readonly rate?: number;
  /** Longest a new connection may take: above it counts as failed. */
  readonly connTimeoutMs?: number;
  readonly settleMs?: number;
}

/** Silences `dead` at the switch and waits until the router's kernel routes `vip` without it; both times wall-clock (epoch ms). */
export async function silenceUntilDropped(aa: ActiveActive, vip: string, dead: LbName): Promise<{ silentAt: number; detectedAt: number }> {
  const others = LBS.filter((lb) => lb !== dead);
  const monitor = await RouteMonitor.start(aa.lab, 'router');
  try {
    const silentAt = await aa.silence(dead);
    // The router no longer sends to the dead LB once its VIP route leaves it out, or is gone.
    const dropped = await monitor.waitFor({
      match: (e) => e.dst === vip && (e.deleted || !e.gateways.includes(LB_ADDR[dead])), after: silentAt, timeoutMs: 5000, what: `the router's route to ${vip} without ${dead}`,
    });
    await monitor.waitFor({ match: (e) => e.dst === vip && !e.deleted && sameLbs(e.gateways, others), after: silentAt, timeoutMs: 5000, what: `the router's route to ${vip} via ${others.join(', ')}` });
    await aa.waitNexthops(others, 5000);
    return { silentAt, detectedAt: dropped.at };
  } finally {
    await monitor.stop();
  }
}

/** Silences `dead` (default: the last next hop), waits for the router to drop it, kills it. */
export async function lbSilent(aa: ActiveActive, vip: string, stream: NsProcess, opts: SilentOptions = {}): Promise<SilentResult> {
  const dead = opts.dead ?? (await aa.nexthops(vip)).at(-1)!;
  const rate = opts.rate ?? 50;
  const leadMs = 800;
  const running = rate > 0 ? paced(aa, vip, rate, leadMs + 2500, opts.connTimeoutMs ?? 1000) : undefined;
  if (running) await sleep(leadMs);
  const { silentAt, detectedAt } = await silenceUntilDropped(aa, vip, dead);
  const detectMs = detectedAt - silentAt;
  await aa.kill(dead);
  const report = running ? await running : undefined;
  const streams = await fate(stream, detectedAt, opts.settleMs ?? 2500);
  const failed = (report?.records ?? []).filter((r) => r.error !== undefined);
  // A connection's start is stamped before its SYN leaves: a few ms of slack either side.
  const failedOutside = failed.filter((r) => r.start < silentAt - 20 || r.start > detectedAt + 20).length;
  const gapMs = failed.length === 0 ? 0 : Math.max(...failed.map((r) => r.start)) - Math.min(...failed.map((r) => r.start));
  return { dead, detectMs, silentAt, detectedAt, streams, ...(report ? { paced: report } : {}), failedOutside, gapMs };
}

function sameLbs(gateways: readonly string[], lbs: readonly LbName[]): boolean {
  return [...gateways].sort().join() === lbs.map((lb) => LB_ADDR[lb]).sort().join();
}

/** Lets the dead LB speak again and restarts its agent; ms until the router's route to `vip` leads to all three again. */
export async function lbReturn(aa: ActiveActive, lb: LbName, vip = aa.opts.farms[0]!.vip): Promise<number> {
  const monitor = await RouteMonitor.start(aa.lab, 'router');
  try {
    await aa.unsilence(lb);
    const t0 = Date.now();
    await aa.start(lb);
    const back = await monitor.waitFor({ match: (e) => e.dst === vip && !e.deleted && sameLbs(e.gateways, LBS), after: t0, timeoutMs: 30_000, what: `the router's route to ${vip} via all three LBs` });
    await aa.waitNexthops(LBS, 30_000);
    return back.at - t0;
  } finally {
    await monitor.stop();
  }
}
