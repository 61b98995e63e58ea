// Invariant: an established stream breaks only through a cause the mode allows: its backend failed
// (and the break came soon enough to be its doing) or went into maintenance while it was open, an agent marked its backend down (cut_on_down), or
// an LB failover in a NAT mode that loses the flow: any failover without conntrackd; with
// conntrackd only a flow opened less than the sync window before the failover (its entry may not
// have reached the peer yet). Active-active modes keep no flow state on the LB, so a failover
// explains nothing there.

import type { StreamRecord } from '../history.js';
import { BACKEND_FAULTS, LB_FAULTS, faultsOn, opDeadline, overlaps, sentAt, type Interval, type Model } from './model.js';
import type { Violation } from './violation.js';

/** What explains a stream opened at `open` on `backend` breaking at `broke`, or null. */
export function explainBreak(m: Model, farm: string, backend: string | undefined, open: number, broke: number): string | null {
  const life: Interval = { start: open, end: broke };
  const { applyMs: A, failoverMs: F } = m.bounds;
  if (backend !== undefined) {
    // A failing backend breaks its streams while it fails (a reset, or no echo within the client's
    // timeout, shorter than detection + apply) or when the agents mark it down and cut them: by
    // detection + apply after it ended. A break later than that is not its doing, however long
    // the stream had been open.
    for (const f of faultsOn(m, backend, BACKEND_FAULTS)) if (overlaps(life, f) && broke <= f.end + m.bounds.detectionMs + A) return f.fault;
    for (const o of m.ops) {
      if (!o.ok || o.action !== 'maintenance' || o.backend !== backend || (o.farm !== undefined && o.farm !== farm)) continue;
      // Opened on it just before the maintenance reached the rules, or open when it was sent (the
      // node may take it, and cut the stream, at any moment until agentctl answers).
      if (sentAt(o) <= broke && opDeadline(m, o.t) >= open) return 'operator-maintenance';
    }
    if (m.run.cutOnDown !== false) {
      // The status poll may see the down mark a little after the cut it caused.
      const down = m.health.find((h) => h.farm === farm && h.backend === backend && h.state === 'down' && h.t >= open && h.t <= broke + A);
      if (down !== undefined) return 'cut-on-down';
    }
  }
  if (m.run.mode === 'dnat' || m.run.mode === 'snat') {
    for (const f of m.faults) {
      // A lost flow shows at its next packet: well before the fault is over plus a failover and a detection.
      if (!LB_FAULTS.includes(f.fault) || broke > f.end + F + m.bounds.detectionMs) continue;
      for (const moment of [f.start, f.end]) {
        if (moment > broke) continue;
        const lost = m.run.conntrackd ? open > moment - m.syncMs && open <= moment + F : open <= moment + F;
        if (lost) return `${f.fault}${m.run.conntrackd ? ' (before sync)' : ''}`;
      }
    }
  }
  return null;
}

export interface StreamFigures {
  readonly opened: number;
  readonly closed: number;
  readonly broken: number;
  readonly brokenExplained: number;
  readonly brokenUnexplained: number;
  readonly stillOpen: number;
}

export function checkStreams(m: Model): { violations: Violation[]; figures: StreamFigures } {
  const violations: Violation[] = [];
  const opened = new Map<number, StreamRecord>();
  let closed = 0;
  let broken = 0;
  let brokenExplained = 0;
  for (const s of m.streams) {
    if (s.phase === 'open') {
      opened.set(s.id, s);
      continue;
    }
    const o = opened.get(s.id);
    opened.delete(s.id);
    if (s.phase === 'close') {
      closed++;
      continue;
    }
    broken++;
    if (o === undefined) {
      violations.push({ invariant: 'history', t: s.t, detail: `stream ${s.id} broke but was never opened` });
      continue;
    }
    const why = explainBreak(m, o.farm, o.backend ?? s.backend, o.t, s.t);
    if (why === null) {
      violations.push({ invariant: 'stream-broken', t: s.t, detail: `stream ${s.id} to ${o.farm} on ${o.backend ?? '?'} (open since ${o.t} ms) broke at ${s.t} ms (${s.error ?? 'no error given'}) with no cause the ${m.run.mode} mode${m.run.conntrackd ? ' with conntrackd' : ''} allows` });
    } else brokenExplained++;
  }
  const openCount = m.streams.filter((s) => s.phase === 'open').length;
  return { violations, figures: { opened: openCount, closed, broken, brokenExplained, brokenUnexplained: broken - brokenExplained, stillOpen: opened.size } };
}
