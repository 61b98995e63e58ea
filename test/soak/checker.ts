// The soak's judge: builds the model of a history once, runs every invariant against it and
// gathers the report's figures. Pure (records in, report out), so the runner calls it directly
// and its own tests feed it histories with planted violations.

import type { HistoryRecord } from './history.js';
import { checkFailures, type FailureFigures } from './invariants/failures.js';
import { checkFinal } from './invariants/final.js';
import { buildModel, sentAt, type Model } from './invariants/model.js';
import { checkProcesses } from './invariants/processes.js';
import { checkReach } from './invariants/reach.js';
import { checkStreams, type StreamFigures } from './invariants/streams.js';
import { worstDetection, worstFailover, type Worst } from './invariants/times.js';
import type { Violation } from './invariants/violation.js';

export type { InvariantName, Violation } from './invariants/violation.js';

export interface CheckReport {
  readonly violations: readonly Violation[];
  readonly seed: number | null;
  readonly mode: string | null;
  readonly durationMs: number;
  /** Injected faults by kind (one per start or point record). */
  readonly faults: Readonly<Record<string, number>>;
  readonly connections: FailureFigures;
  readonly streams: StreamFigures;
  readonly worstDetection: Worst | null;
  readonly worstFailover: Worst | null;
  readonly operatorActions: number;
  readonly operatorRefused: number;
  /** The longest an agentctl command took to answer (a node that blocks an operator is a finding too). */
  readonly slowestOperatorAnswer: Worst | null;
}

const EMPTY_CONNS: FailureFigures = { total: 0, ok: 0, failed: 0, explained: 0, unexplained: 0, explainedBy: {} };
const EMPTY_STREAMS: StreamFigures = { opened: 0, closed: 0, broken: 0, brokenExplained: 0, brokenUnexplained: 0, stillOpen: 0 };

export function checkHistory(records: readonly HistoryRecord[]): CheckReport {
  let m;
  try {
    m = buildModel(records);
  } catch (err) {
    return {
      violations: [{ invariant: 'history', t: 0, detail: (err as Error).message }], seed: null, mode: null, durationMs: 0,
      faults: {}, connections: EMPTY_CONNS, streams: EMPTY_STREAMS, worstDetection: null, worstFailover: null, operatorActions: 0, operatorRefused: 0, slowestOperatorAnswer: null,
    };
  }
  const failures = checkFailures(m);
  const streams = checkStreams(m);
  const violations: Violation[] = [
    ...m.problems.map((p) => ({ invariant: 'history' as const, ...p })),
    ...failures.violations, ...checkReach(m), ...streams.violations, ...checkFinal(m), ...checkProcesses(m),
  ].sort((a, b) => a.t - b.t);
  const faults: Record<string, number> = {};
  for (const f of m.faultRecords) if (f.phase !== 'end') faults[f.fault] = (faults[f.fault] ?? 0) + 1;
  return {
    violations, seed: m.run.seed, mode: m.run.mode + (m.run.conntrackd ? ' + conntrackd' : ''), durationMs: m.endT,
    faults, connections: failures.figures, streams: streams.figures,
    worstDetection: worstDetection(m), worstFailover: worstFailover(m),
    operatorActions: m.ops.length, operatorRefused: m.ops.filter((o) => !o.ok).length,
    slowestOperatorAnswer: slowestAnswer(m),
  };
}

function slowestAnswer(m: Model): Worst | null {
  let worst: Worst | null = null;
  for (const o of m.ops) {
    const ms = o.t - sentAt(o);
    if (worst === null || ms > worst.ms) worst = { ms, t: sentAt(o), what: `${o.action} on ${o.node}, ${o.ok ? 'accepted' : 'refused'}` };
  }
  return worst;
}

const counts = (r: Readonly<Record<string, number>>): string =>
  Object.keys(r).length === 0 ? 'none' : Object.entries(r).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(', ');
const worst = (w: Worst | null): string => (w === null ? 'none seen' : `${w.ms} ms (${w.what}, at ${w.t} ms)`);

export function formatReport(r: CheckReport): string {
  const c = r.connections;
  const s = r.streams;
  const totalFaults = Object.values(r.faults).reduce((a, b) => a + b, 0);
  const lines = [
    `soak: seed ${r.seed ?? '?'}, mode ${r.mode ?? '?'}, ${(r.durationMs / 1000).toFixed(1)} s`,
    `faults: ${totalFaults} (${counts(r.faults)})`,
    `operator actions: ${r.operatorActions} (${r.operatorRefused} refused), slowest answer: ${worst(r.slowestOperatorAnswer)}`,
    `connections: ${c.total} total, ${c.ok} ok, ${c.failed} failed (${c.explained} explained, ${c.unexplained} unexplained)`,
    `failures explained by: ${counts(c.explainedBy)}`,
    `streams: ${s.opened} opened, ${s.closed} closed, ${s.broken} broken (${s.brokenExplained} explained, ${s.brokenUnexplained} unexplained), ${s.stillOpen} open at the end`,
    `worst detection: ${worst(r.worstDetection)}`,
    `worst failover: ${worst(r.worstFailover)}`,
    `violations: ${r.violations.length}`,
    ...r.violations.map((v) => `  [${v.invariant}] at ${v.t} ms: ${v.detail}`),
  ];
  return lines.join('\n') + '\n';
}
