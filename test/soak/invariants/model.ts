// The model every invariant judges against, built once from a history: the run's bounds, fault
// windows (paired start/end), the operator's admin state per backend over time, and the deadlines
// by which the agents must have acted. Deadlines stretch across disruptions of the agents
// themselves (an agent stopped or killed, keepalived gone, Redis away): an agent that cannot run
// cannot be held to its bound, only to acting within the bound once it can again.

import type {
  Bounds, ConnRecord, ExitRecord, FaultKind, FaultRecord, FinalRecord, HistoryRecord, HealthRecord, LogRecord,
  OperatorRecord, RunRecord, StreamRecord, VipRecord,
} from '../history.js';

export interface Interval { readonly start: number; readonly end: number }

export interface FaultWindow extends Interval {
  readonly id: number;
  readonly fault: FaultKind;
  readonly target: string;
  /** Whether an end record closed it (else it runs to the end of the history, or is a point). */
  readonly closed: boolean;
}

export type Admin = 'enabled' | 'drain' | 'maintenance';

/**
 * One accepted admin change on a backend of a farm: sent at `sent`, taken by the node by `t` (when
 * agentctl answered). It may take effect anywhere in between, so an explanation it gives starts at
 * `sent`, and a bound it sets runs from `t`.
 */
export interface AdminChange { readonly t: number; readonly sent: number; readonly admin: Admin; readonly node: string }

/** Faults that take a backend away (its checks fail; new connections must stop reaching it). */
export const BACKEND_DOWN: readonly FaultKind[] = ['backend-kill', 'backend-blackhole'];
export const BACKEND_FAULTS: readonly FaultKind[] = ['backend-kill', 'backend-blackhole', 'backend-slow'];
/** Faults of an LB that may move the VIP (or, active-active, the routes). */
export const LB_FAULTS: readonly FaultKind[] = ['agent-sigkill', 'agent-sigstop', 'keepalived-kill', 'vrrp-link-cut', 'lb-silent', 'bird-kill'];
export const REDIS_FAULTS: readonly FaultKind[] = ['redis-kill', 'redis-restart-empty', 'redis-partition'];

/** Default conntrackd sync window, when the run record gives none (see Bounds.conntrackSyncMs). */
export const DEFAULT_CONNTRACK_SYNC_MS = 2000;

export interface Model {
  readonly run: RunRecord;
  readonly bounds: Bounds;
  readonly syncMs: number;
  /** The history's last moment: its end record, else its latest record. */
  readonly endT: number;
  readonly ended: boolean;
  readonly faults: readonly FaultWindow[];
  readonly faultRecords: readonly FaultRecord[];
  readonly ops: readonly OperatorRecord[];
  readonly conns: readonly ConnRecord[];
  readonly streams: readonly StreamRecord[];
  readonly health: readonly HealthRecord[];
  readonly vips: readonly VipRecord[];
  readonly exits: readonly ExitRecord[];
  readonly logs: readonly LogRecord[];
  readonly final: FinalRecord | undefined;
  /** Problems with the history itself (unpaired fault records, unknown farms). */
  readonly problems: readonly { t: number; detail: string }[];
  /** Accepted admin changes by `farm/backend`, in time order. */
  readonly admin: ReadonlyMap<string, readonly AdminChange[]>;
  /** Windows in which an LB's agent, keepalived or link was disturbed (its end stretched by failover). */
  readonly lbDisruptions: readonly Interval[];
  /** The same plus Redis windows (stretched by the resync bound): what delays an operator action reaching every LB. */
  readonly syncDisruptions: readonly Interval[];
}

export const key = (farm: string, backend: string): string => `${farm}/${backend}`;

/** dsr and tunnel: the LB keeps no flow entry, every packet is placed on a backend afresh. */
export const untracked = (m: Model): boolean => m.run.mode === 'dsr' || m.run.mode === 'tunnel';

/** When an operator command was sent: the earliest moment it may have taken effect. */
export const sentAt = (o: OperatorRecord): number => Math.min(o.sent ?? o.t, o.t);

const byT = <T extends { t: number }>(a: T, b: T): number => a.t - b.t;

/** Builds the model; throws if the history has no run record (nothing can be judged without bounds). */
export function buildModel(records: readonly HistoryRecord[]): Model {
  const run = records.find((r): r is RunRecord => r.kind === 'run');
  if (run === undefined) throw new Error('the history has no run record');
  const endRecord = records.find((r) => r.kind === 'end');
  const endT = endRecord?.t ?? records.reduce((m, r) => Math.max(m, r.kind === 'conn' ? r.end : r.t), 0);
  const problems: { t: number; detail: string }[] = [];
  const of = <K extends HistoryRecord['kind']>(kind: K): Extract<HistoryRecord, { kind: K }>[] =>
    records.filter((r): r is Extract<HistoryRecord, { kind: K }> => r.kind === kind).sort(byT);

  const faultRecords = of('fault');
  const faults: FaultWindow[] = [];
  const open = new Map<number, FaultRecord>();
  for (const f of faultRecords) {
    if (f.phase === 'point') faults.push({ id: f.id, fault: f.fault, target: f.target, start: f.t, end: f.t, closed: true });
    else if (f.phase === 'start') {
      if (open.has(f.id)) problems.push({ t: f.t, detail: `fault ${f.id} started twice` });
      open.set(f.id, f);
    } else {
      const s = open.get(f.id);
      if (s === undefined) problems.push({ t: f.t, detail: `fault ${f.id} (${f.fault}) ended without a start` });
      else {
        open.delete(f.id);
        faults.push({ id: f.id, fault: s.fault, target: s.target, start: s.t, end: f.t, closed: true });
      }
    }
  }
  for (const s of open.values()) faults.push({ id: s.id, fault: s.fault, target: s.target, start: s.t, end: endT, closed: false });
  faults.sort((a, b) => a.start - b.start);

  const farms = new Map(run.farms.map((f) => [f.name, f]));
  const ops = of('op');
  const admin = new Map<string, AdminChange[]>();
  for (const o of ops) {
    if (o.sent !== undefined && o.sent > o.t) problems.push({ t: o.t, detail: `operator ${o.action} on ${o.node} answered at ${o.t} ms, before it was sent at ${o.sent} ms` });
    if (!o.ok || (o.action !== 'drain' && o.action !== 'maintenance' && o.action !== 'enable') || o.backend === undefined) continue;
    const targets = o.farm !== undefined ? [o.farm] : run.farms.filter((f) => f.backends.includes(o.backend!)).map((f) => f.name);
    for (const farm of targets) {
      if (!farms.get(farm)?.backends.includes(o.backend)) problems.push({ t: o.t, detail: `operator ${o.action} on unknown ${key(farm, o.backend)}` });
      const list = admin.get(key(farm, o.backend)) ?? [];
      list.push({ t: o.t, sent: sentAt(o), admin: o.action === 'enable' ? 'enabled' : o.action, node: o.node });
      admin.set(key(farm, o.backend), list);
    }
  }

  const F = run.bounds.failoverMs;
  const lbDisruptions = faults.filter((f) => LB_FAULTS.includes(f.fault)).map((f) => ({ start: f.start, end: f.end + F }));
  const resync = run.bounds.resyncMs ?? 0;
  const syncDisruptions = [...lbDisruptions, ...faults.filter((f) => REDIS_FAULTS.includes(f.fault)).map((f) => ({ start: f.start, end: f.end + resync }))];

  return {
    run, bounds: run.bounds, syncMs: run.bounds.conntrackSyncMs ?? DEFAULT_CONNTRACK_SYNC_MS,
    endT, ended: endRecord !== undefined, faults, faultRecords, ops, admin, lbDisruptions, syncDisruptions, problems,
    conns: of('conn'), streams: of('stream'), health: of('health'), vips: of('vip'), exits: of('exit'), logs: of('log'),
    final: records.find((r): r is FinalRecord => r.kind === 'final'),
  };
}

/**
 * `t + bound`, pushed past every disruption that overlaps the time to act: an agent cannot meet a
 * bound while it is stopped, so it gets the full bound again after the disruption ends.
 */
export function deadline(t: number, bound: number, disruptions: readonly Interval[]): number {
  let d = t + bound;
  for (let changed = true; changed;) {
    changed = false;
    for (const w of disruptions) {
      if (w.start <= d && w.end >= t && w.end + bound > d) {
        d = w.end + bound;
        changed = true;
      }
    }
  }
  return d;
}

/** By when a backend that went down at `t` must be out of every LB's rules (detection + apply). */
export function downDeadline(m: Model, t: number): number {
  return deadline(t, m.bounds.detectionMs + m.bounds.applyMs, m.lbDisruptions);
}

/** By when an operator action the node took at `t` (agentctl's answer) must be in every LB's rules (apply, after Redis carried it). */
export function opDeadline(m: Model, t: number): number {
  return deadline(t, m.bounds.applyMs, m.syncDisruptions);
}

/** Faults on a given target, of the given kinds. */
export function faultsOn(m: Model, target: string, kinds: readonly FaultKind[]): FaultWindow[] {
  return m.faults.filter((f) => f.target === target && kinds.includes(f.fault));
}

/** The operator's admin state of a backend at `t` (the last accepted change at or before it). */
export function adminAt(m: Model, farm: string, backend: string, t: number): Admin {
  let a: Admin = 'enabled';
  for (const c of m.admin.get(key(farm, backend)) ?? []) if (c.t <= t) a = c.admin;
  return a;
}

/**
 * When a backend may be unusable as the agents see it: a down fault until detection + apply after
 * it ended (rise), and a drain/maintenance from when it was sent until its enable is applied.
 */
export function unusable(m: Model, farm: string, backend: string): Interval[] {
  const out: Interval[] = faultsOn(m, backend, BACKEND_DOWN).map((f) => ({ start: f.start, end: downDeadline(m, f.end) }));
  let since: number | undefined;
  for (const c of m.admin.get(key(farm, backend)) ?? []) {
    if (c.admin !== 'enabled' && since === undefined) since = c.sent;
    else if (c.admin === 'enabled' && since !== undefined) {
      out.push({ start: since, end: opDeadline(m, c.t) });
      since = undefined;
    }
  }
  if (since !== undefined) out.push({ start: since, end: Infinity });
  return out;
}

export const overlaps = (a: Interval, b: Interval): boolean => a.start <= b.end && b.start <= a.end;
export const inside = (t: number, w: Interval): boolean => w.start <= t && t <= w.end;

/** The farm's backends and their weights (1 unless the run record says otherwise). */
export function farmOf(m: Model, farm: string): { backends: readonly string[]; weight: (b: string) => number } | undefined {
  const f = m.run.farms.find((x) => x.name === farm);
  if (f === undefined) return undefined;
  return { backends: f.backends, weight: (b) => f.weights?.[b] ?? 1 };
}
