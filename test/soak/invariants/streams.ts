// Invariant: an established stream breaks only through a cause the mode allows: its backend failed
// (and the break came soon enough to be its doing) or went into maintenance while it was open, an agent marked its backend down (cut_on_down), or
// an LB failover in a NAT mode that loses the flow: any failover without conntrackd; with
// conntrackd only a flow opened less than the sync window before the failover (its entry may not
// have reached the peer yet). Active-active modes keep no flow state on the LB, so a failover
// explains nothing there; but for the same reason (dsr and tunnel hash every packet, there is no
// flow entry to keep a flow where it is) a drain moves its backend's flows as maintenance does,
// a backend coming back takes back its buckets, with the flows opened on their stand-in
// backend while it was out, and a flow the router moves to another LB (an LB leaving or joining
// its route) meets that LB's table, which differs while the LBs disagree on the backends (one
// cut off from Redis, or a check seen at different moments), and an external flush of the
// agent's rules leaves every packet of every flow through that LB unrouted until the repair.
// Such a flow may vanish rather than be reset: its break shows up to the client's stream timeout
// after the event.

import type { StreamRecord } from '../history.js';
import { BACKEND_FAULTS, LB_FAULTS, faultsOn, opDeadline, overlaps, sentAt, untracked, type Interval, type Model } from './model.js';
import type { Violation } from './violation.js';

/** The soak client's echo timeout, when the run record gives none. */
const DEFAULT_STREAM_TIMEOUT_MS = 2000;

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
      const cuts = o.action === 'maintenance' || (o.action === 'drain' && untracked(m));
      if (!o.ok || !cuts || o.backend !== backend || (o.farm !== undefined && o.farm !== farm)) continue;
      // Opened on it just before the maintenance reached the rules, or open when it was sent (the
      // node may take it, and cut the stream, at any moment until agentctl answers).
      // A drained flow moves (dsr, tunnel) once the drain is in the rules, and the stream learns of
      // it within the client's echo timeout: a later break is not the drain's doing.
      const noticed = o.action === 'drain' ? opDeadline(m, o.t) + (m.bounds.streamTimeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS) : Infinity;
      if (sentAt(o) <= broke && opDeadline(m, o.t) >= open && broke <= noticed) return `operator-${o.action}`;
    }
    if (m.run.cutOnDown !== false) {
      // The status poll may see the down mark a little after the cut it caused.
      const down = m.health.find((h) => h.farm === farm && h.backend === backend && h.state === 'down' && h.t >= open && h.t <= broke + A);
      if (down !== undefined) return 'cut-on-down';
    }
  }
  if (untracked(m)) {
    if (backendReturned(m, farm, backend, open, broke)) return 'backend-returned';
    if (movedToDivergedLb(m, farm, broke)) return 'moved-between-diverged-lbs';
    const T = m.bounds.streamTimeoutMs ?? 0;
    const flush = m.faults.find((f) => f.fault === 'rules-flush' && open <= f.start && f.start <= broke && broke <= f.end + m.bounds.repairMs + T);
    if (flush !== undefined) return 'rules-flush';
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

/**
 * Whether another backend of the farm came back into some LB's table (up and enabled again, as
 * that LB's status said) while the stream was open, within apply either side of the status poll,
 * having been out when the stream opened: the stream may have been on its stand-in.
 */
function backendReturned(m: Model, farm: string, backend: string | undefined, open: number, broke: number): boolean {
  const A = m.bounds.applyMs;
  const T = m.bounds.streamTimeoutMs ?? 0;
  const runs = new Map<string, number>();
  for (const h of m.health) {
    if (h.farm !== farm || h.backend === backend) continue;
    const k = `${h.node}/${h.backend}`;
    const usable = h.state === 'up' && h.admin === 'enabled';
    const outSince = runs.get(k);
    if (!usable) {
      if (outSince === undefined) runs.set(k, h.t);
      continue;
    }
    runs.delete(k);
    if (outSince !== undefined && outSince - A <= open && open <= h.t + A && h.t - A <= broke && broke <= h.t + A + T) return true;
  }
  return false;
}

/**
 * Whether the router's route changed within apply of the break while, around it, two LBs'
 * statuses disagreed on whether some backend of the farm is usable: the flow may have moved
 * to an LB whose bucket table sends it to another backend.
 */
function movedToDivergedLb(m: Model, farm: string, broke: number): boolean {
  const A = m.bounds.applyMs;
  const T = m.bounds.streamTimeoutMs ?? 0;
  const change = m.vips.find((v) => v.t - A <= broke && broke <= v.t + A + T);
  if (change === undefined) return false;
  const near = (t: number): boolean => change.t - A <= t && t <= change.t + A;
  const moments = [change.t, ...m.health.filter((h) => h.farm === farm && near(h.t)).map((h) => h.t)];
  return moments.some((t) => viewsDiffer(m, farm, t));
}

/** Whether two LBs' last reported states at `t` disagree on some backend being usable. */
function viewsDiffer(m: Model, farm: string, t: number): boolean {
  const last = new Map<string, boolean>();
  for (const h of m.health) {
    if (h.t > t) break;
    if (h.farm === farm) last.set(`${h.backend}\0${h.node}`, h.state === 'up' && h.admin === 'enabled');
  }
  const byBackend = new Map<string, Set<boolean>>();
  for (const [k, usable] of last) {
    const b = k.slice(0, k.indexOf('\0'));
    byBackend.set(b, (byBackend.get(b) ?? new Set()).add(usable));
  }
  return [...byBackend.values()].some((views) => views.size > 1);
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
