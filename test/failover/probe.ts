// Client-side views of a failover: which LB serves the VIP now, and when the VIP answered again.

import { VIP, parseJsonLine, waitFor } from '../netns/topology.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import type { LbName, Pair } from './pair.js';

/** One short connection to the VIP from the client; true when a backend answered. */
export async function vipAnswers(pair: Pair, timeoutMs = 300): Promise<boolean> {
  const r = await pair.lab.execFixture('client', 'conn-client', ['--target', `${VIP}:80`, '--count', '1', '--timeout-ms', String(timeoutMs)], { reject: false });
  try {
    return parseJsonLine<ConnReport>(r.stdout).failures === 0;
  } catch {
    return false;
  }
}

/** Connections to the VIP that `lb` has tracked (conntrack -L in its namespace). */
export async function trackedVipFlows(pair: Pair, lb: LbName): Promise<number> {
  const r = await pair.lab.exec(lb, 'conntrack', ['-L', '-p', 'tcp', '--orig-dst', VIP], { reject: false });
  return r.stdout.split('\n').filter((l) => l.includes(`dst=${VIP}`)).length;
}

/**
 * Waits until only `lb` holds the VIP and a new connection to it succeeds, and that connection
 * went through `lb` (its conntrack table grew). Returns when (epoch ms).
 */
export async function waitServedBy(pair: Pair, lb: LbName, timeoutMs: number): Promise<number> {
  return waitFor(async () => {
    const holders = await pair.vipHolders();
    if (holders.length !== 1 || holders[0] !== lb) return undefined;
    const before = await trackedVipFlows(pair, lb);
    if (!(await vipAnswers(pair))) return undefined;
    const at = Date.now();
    return (await trackedVipFlows(pair, lb)) > before ? at : undefined;
  }, { timeoutMs, intervalMs: 10, what: `the VIP to be served by ${lb} alone` });
}

/** The agents' own view (status --json) must agree with who holds the VIP. */
export async function statesOf(pair: Pair): Promise<Record<LbName, string>> {
  const [lb1, lb2] = await Promise.all([pair.status('lb1'), pair.status('lb2')]);
  return { lb1: lb1.vrrp.state, lb2: lb2.vrrp.state };
}
