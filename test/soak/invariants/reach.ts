// Invariant: no new connection reaches a backend the agents must have taken out: more than
// detection + apply after it went down (until it came back), or more than apply after the node took
// an accepted drain or maintenance (agentctl's answer), until the next accepted enable was sent
// (from then on the enable may have taken effect). A connection may have reached its backend at
// any moment from its start to its answer (a lost SYN is sent again a second later, and may meet
// other rules): only one wholly inside the forbidden time is a violation.

import type { ConnRecord } from '../history.js';
import { BACKEND_DOWN, downDeadline, faultsOn, key, opDeadline, type Model } from './model.js';
import type { Violation } from './violation.js';

/** The violation an ok connection commits, if any. */
export function reachViolation(m: Model, c: ConnRecord): Violation | null {
  if (!c.ok || c.backend === undefined) return null;
  const b = c.backend;
  for (const f of faultsOn(m, b, BACKEND_DOWN)) {
    const d = downDeadline(m, f.start);
    if (c.t > d && c.end < f.end) {
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

export function checkReach(m: Model): Violation[] {
  return m.conns.map((c) => reachViolation(m, c)).filter((v): v is Violation => v !== null);
}
