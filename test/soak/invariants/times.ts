// The report's timing figures: how long the agents took to see a backend fail (fault start to the
// first down mark on an LB) and how long the VIP took to come back after its holder failed (to the
// peer holding it, or to the first connection that worked again; active-active: to the router's
// route leaving the failed LB).

import { BACKEND_DOWN, LB_FAULTS, farmOf, type Model } from './model.js';

export interface Worst { readonly ms: number; readonly t: number; readonly what: string }

/** The slowest detection of a backend-down fault, over faults some LB detected. */
export function worstDetection(m: Model): Worst | null {
  let worst: Worst | null = null;
  for (const f of m.faults) {
    if (!BACKEND_DOWN.includes(f.fault)) continue;
    const farms = m.run.farms.filter((x) => farmOf(m, x.name)?.backends.includes(f.target)).map((x) => x.name);
    // Already marked down on every LB when it started: nothing to detect.
    const wasDown = m.run.lbs.every((lb) => farms.every((farm) => {
      const last = m.health.filter((h) => h.node === lb && h.farm === farm && h.backend === f.target && h.t <= f.start).at(-1);
      return last?.state === 'down';
    }));
    if (wasDown && farms.length > 0) continue;
    const seen = m.health.find((h) => h.backend === f.target && farms.includes(h.farm) && h.state === 'down' && h.t >= f.start && h.t <= f.end + m.bounds.detectionMs);
    if (seen === undefined) continue;
    const ms = seen.t - f.start;
    if (worst === null || ms > worst.ms) worst = { ms, t: f.start, what: `${f.fault} of ${f.target}, marked down on ${seen.node}` };
  }
  return worst;
}

/** Which LB held the VIP at `t` (by the last vip record of each), if exactly known. */
function holderAt(m: Model, t: number): string[] {
  return m.run.lbs.filter((lb) => m.vips.filter((v) => v.node === lb && v.t <= t).at(-1)?.holds === true);
}

/** The slowest failover after a fault of the LB holding the VIP. */
export function worstFailover(m: Model): Worst | null {
  if (m.run.topology === 'active-active') return worstWithdrawal(m);
  let worst: Worst | null = null;
  for (const f of m.faults) {
    if (!LB_FAULTS.includes(f.fault) || !holderAt(m, f.start).includes(f.target)) continue;
    // The peer taking the VIP when there is one; else (active-active) the client working again: the
    // first good connection after the last one failing within the failover bound.
    const peer = m.vips.find((v) => v.holds && v.node !== f.target && v.t >= f.start);
    let ms: number;
    if (peer !== undefined) ms = peer.t - f.start;
    else {
      const lastFail = m.conns.filter((c) => !c.ok && c.t >= f.start && c.t <= f.start + m.bounds.failoverMs).at(-1);
      if (lastFail === undefined) ms = 0;
      else {
        const working = m.conns.find((c) => c.ok && c.t > lastFail.t);
        if (working === undefined) continue;
        ms = working.t - f.start;
      }
    }
    if (worst === null || ms > worst.ms) worst = { ms, t: f.start, what: `${f.fault} of ${f.target}` };
  }
  return worst;
}

/**
 * Active-active: every LB holds the VIP, and a failed one is out once the router's route leaves
 * it. The slowest such removal after an LB fault of a next hop, over faults the router did act on
 * (a fault shorter than the withdrawal, such as a brief SIGSTOP, may end first).
 */
function worstWithdrawal(m: Model): Worst | null {
  let worst: Worst | null = null;
  for (const f of m.faults) {
    if (!LB_FAULTS.includes(f.fault) || !holderAt(m, f.start).includes(f.target)) continue;
    const out = m.vips.find((v) => v.node === f.target && !v.holds && v.t >= f.start && v.t <= f.end + m.bounds.failoverMs);
    if (out === undefined) continue;
    const ms = out.t - f.start;
    if (worst === null || ms > worst.ms) worst = { ms, t: f.start, what: `${f.fault} of ${f.target}, out of the router's route` };
  }
  return worst;
}
