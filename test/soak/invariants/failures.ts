// Invariant: a new connection that fails is explained by a fault window. The explanations are the
// only ways the design allows a client to see a failure: a backend of its farm failing until the
// agents have taken it out, the VIP moving, the agent's rules flushed until repaired, every
// backend unusable, or an operator action being applied (tried in that order, which names the
// explanation in the report). Redis faults and SIGHUPs explain nothing:
// the data path must not notice them.

import type { ConnRecord } from '../history.js';
import {
  BACKEND_DOWN, LB_FAULTS, downDeadline, farmOf, faultsOn, inside, opDeadline, overlaps, sentAt, unusable,
  type Interval, type Model,
} from './model.js';
import type { Violation } from './violation.js';

/** What explains a failed connection (a fault kind, or `all-down`, `operator-drain`...), or null. */
export function explainFailure(m: Model, c: ConnRecord): string | null {
  const conn: Interval = { start: c.t, end: c.end };
  const { detectionMs: D, applyMs: A, failoverMs: F, repairMs: R } = m.bounds;
  const farm = farmOf(m, c.farm);
  const backends = farm?.backends ?? [];

  for (const b of backends) {
    for (const f of faultsOn(m, b, BACKEND_DOWN)) {
      // In flight when it went down, or started before the agents could take it out.
      if (overlaps(conn, { start: f.start, end: Math.min(f.end, downDeadline(m, f.start)) })) return f.fault;
    }
    for (const f of faultsOn(m, b, ['backend-slow'])) {
      // A slow backend is slow for as long as it lasts; a check may also time out and mark it down.
      if (overlaps(conn, { start: f.start, end: f.end + D + A })) return f.fault;
    }
  }

  for (const f of m.faults) {
    if (LB_FAULTS.includes(f.fault)) {
      // The VIP moves away when the fault starts and may move back when it ends.
      if (overlaps(conn, { start: f.start, end: f.start + F }) || overlaps(conn, { start: f.end, end: f.end + F })) return f.fault;
    }
    if (f.fault === 'rules-flush' && overlaps(conn, { start: f.start, end: f.end + R })) return f.fault;
  }
  if (farm !== undefined && allUnusable(m, c.farm, backends, conn)) return 'all-down';

  for (const o of m.ops) {
    if (!o.ok || (o.action !== 'drain' && o.action !== 'maintenance') || o.backend === undefined) continue;
    if (o.farm !== undefined && o.farm !== c.farm) continue;
    if (!backends.includes(o.backend)) continue;
    // From when it was sent (the node may take it at once) until it is applied everywhere.
    if (overlaps(conn, { start: sentAt(o), end: opDeadline(m, o.t) })) return `operator-${o.action}`;
  }

  return null;
}

/** Whether at some moment of `conn` every backend of the farm was unusable. */
function allUnusable(m: Model, farm: string, backends: readonly string[], conn: Interval): boolean {
  if (backends.length === 0) return false;
  const windows = backends.map((b) => unusable(m, farm, b));
  // The intersection of unions, if it meets `conn`, starts at conn.start or at some window's start.
  const candidates = [conn.start, ...windows.flat().map((w) => w.start).filter((s) => inside(s, conn))];
  return candidates.some((t) => windows.every((ws) => ws.some((w) => inside(t, w))));
}

export interface FailureFigures {
  readonly total: number;
  readonly ok: number;
  readonly failed: number;
  readonly explained: number;
  readonly unexplained: number;
  readonly explainedBy: Readonly<Record<string, number>>;
}

/** Checks every failed connection; returns the violations and the connection figures. */
export function checkFailures(m: Model): { violations: Violation[]; figures: FailureFigures } {
  const violations: Violation[] = [];
  const explainedBy: Record<string, number> = {};
  let ok = 0;
  let explained = 0;
  for (const c of m.conns) {
    if (c.ok) {
      ok++;
      continue;
    }
    const why = explainFailure(m, c);
    if (why === null) {
      violations.push({ invariant: 'failure-unexplained', t: c.t, detail: `connection to ${c.farm} at ${c.t} ms failed (${c.error ?? 'no error given'}) with no fault, all-down or operator action to explain it` });
    } else {
      explained++;
      explainedBy[why] = (explainedBy[why] ?? 0) + 1;
    }
  }
  const failed = m.conns.length - ok;
  return { violations, figures: { total: m.conns.length, ok, failed, explained, unexplained: failed - explained, explainedBy } };
}
