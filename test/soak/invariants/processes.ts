// Invariant: no watched process ends unless an injected fault ended it; an invalid config on
// SIGHUP must leave the agent running on its old one; no fatal, unhandled or uncaught error is
// logged; and the history ends with its end record (else the run was cut short). Exits after the
// final record are the runner's teardown.

import type { ExitRecord, FaultKind } from '../history.js';
import type { Model } from './model.js';
import type { Violation } from './violation.js';

/**
 * How long after a fault's window the runner may take to see a process gone: daemons are watched
 * by their pid at each status poll, and a poll waits for an agent that is just restarting.
 */
export const EXIT_SLACK_MS = 5000;

/**
 * The faults that may end each process. The agent runs keepalived, conntrackd and BIRD, so an
 * agent killed and restarted may restart them (a new pid); making an active-active LB silent may
 * stop its BGP speaker.
 */
const KILLS: Readonly<Record<ExitRecord['process'], readonly FaultKind[]>> = {
  agent: ['agent-sigkill'],
  keepalived: ['keepalived-kill', 'agent-sigkill'],
  conntrackd: ['keepalived-kill', 'agent-sigkill'],
  redis: ['redis-kill', 'redis-restart-empty'],
  bird: ['bird-kill', 'lb-silent', 'agent-sigkill'],
};

/** The violation an exit commits, if any. */
export function exitViolation(m: Model, e: ExitRecord): Violation | null {
  if (m.final !== undefined && e.t >= m.final.t) return null;
  const near = (kinds: readonly FaultKind[]) =>
    m.faults.find((f) => kinds.includes(f.fault) && f.target === e.node && f.start <= e.t && e.t <= f.end + EXIT_SLACK_MS);
  const killer = near(KILLS[e.process]);
  // A SIGKILL'd agent reports the signal (or 137 through a shell or `ip netns exec`); any other
  // exit code is the agent's own doing, even right after a kill was sent. Daemons watched by pid
  // report neither.
  if (killer !== undefined && (e.process !== 'agent' || e.signal === 'SIGKILL' || e.code === 137)) return null;
  const how = e.signal !== null ? `signal ${e.signal}` : `code ${e.code}`;
  if (e.process === 'agent') {
    const hup = near(['agent-sighup-invalid']);
    if (hup !== undefined) return { invariant: 'exit-on-invalid-reload', t: e.t, detail: `agent on ${e.node} exited (${how}) ${e.t - hup.start} ms after a SIGHUP with an invalid config` };
  }
  return { invariant: 'process-exit', t: e.t, detail: `${e.process} on ${e.node} exited (${how}) with no injected fault to explain it` };
}

const FATAL = /\b(unhandled|uncaught)\b/i;

export function checkProcesses(m: Model): Violation[] {
  const out: Violation[] = [];
  for (const e of m.exits) {
    const v = exitViolation(m, e);
    if (v !== null) out.push(v);
  }
  for (const l of m.logs) {
    // pino writes levels as numbers (60 = fatal) unless told to write labels.
    if (l.level === 'fatal' || l.level === '60' || FATAL.test(l.msg)) {
      out.push({ invariant: 'log-fatal', t: l.t, detail: `${l.node} logged ${l.level}: ${l.msg}` });
    }
  }
  if (!m.ended) out.push({ invariant: 'cut-short', t: m.endT, detail: 'the history has no end record: the run was cut short' });
  return out;
}
