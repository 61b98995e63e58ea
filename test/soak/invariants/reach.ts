// Invariant: no new connection reaches a backend the agents must have taken out: more than
// detection + apply after it went down (until it came back), or more than apply after the node took
// an accepted drain or maintenance (agentctl's answer), until the next accepted enable was sent
// (from then on the enable may have taken effect). Where the LB tracks flows (dnat, snat), a
// connection to a down backend is judged by its start: its flow entry pins every retransmitted SYN
// to where the first went, and the backend can answer only once it is back, so one it answers after
// starting past the deadline was sent to it by a rule or an entry it should no longer have. Where
// nothing is tracked (dsr, tunnel), each SYN is placed afresh: a retransmission may meet the
// backend back in the rules, so only an answer before any LB saw it up again is a violation. A
// connection to a drained backend may have reached it at any moment from its start to its answer
// (a lost SYN is sent again a second later, and may meet the enable's rules): only one wholly
// inside the forbidden time is a violation.

import type { ConnRecord } from '../history.js';
import { BACKEND_DOWN, downDeadline, faultsOn, key, opDeadline, untracked, type Model } from './model.js';
import type { Violation } from './violation.js';

/** The violation an ok connection commits, if any. */
export function reachViolation(m: Model, c: ConnRecord): Violation | null {
  if (!c.ok || c.backend === undefined) return null;
  const b = c.backend;
  for (const f of faultsOn(m, b, BACKEND_DOWN)) {
    const d = downDeadline(m, f.start);
    const until = untracked(m) ? backInRules(m, c.farm, b, f.start) : f.end;
    if (c.t > d && (untracked(m) ? c.end : c.t) < until) {
      return { invariant: 'reached-down-backend', t: c.t, detail: `connection to ${c.farm} at ${c.t} ms answered by ${b}, down (${f.fault}) since ${f.start} ms: out of the rules by ${d} ms` };
    }
  }
  const changes = m.admin.get(key(c.farm, b)) ?? [];
  for (let i = 0; i < changes.length; i++) {
    const ch = changes[i]!;
    if (ch.admin === 'enabled') continue;
    const enabled = changes.slice(i + 1).find((x) => x.admin === 'enabled');
    const d = opDeadline(m, ch.t);
    if (c.t > d && c.end < (enabled?.sent ?? Infinity)) {
      return { invariant: 'reached-drained-backend', t: c.t, detail: `connection to ${c.farm} at ${c.t} ms answered by ${b}, set to ${ch.admin} on ${ch.node} (sent at ${ch.sent} ms, taken by ${ch.t} ms): out of the rules by ${d} ms` };
    }
  }
  return null;
}


/** The earliest moment after `since` an LB's rules may hold `backend` again: its first up and enabled health record, less the status poll's lag. */
function backInRules(m: Model, farm: string, backend: string, since: number): number {
  const up = m.health.find((h) => h.t > since && h.farm === farm && h.backend === backend && h.state === 'up' && h.admin === 'enabled');
  return up === undefined ? Infinity : up.t - (m.bounds.pollMs ?? DEFAULT_POLL_MS);
}

/** The runners' status poll interval, when the run record gives none. */
const DEFAULT_POLL_MS = 250;

export function checkReach(m: Model): Violation[] {
  return m.conns.map((c) => reachViolation(m, c)).filter((v): v is Violation => v !== null);
}
