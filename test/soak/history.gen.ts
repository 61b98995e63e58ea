// A generator of clean soak histories for the checker's own tests: a random schedule of faults,
// operator actions and streams, played against an ideal pair of LBs that route every new
// connection to a backend that is up and enabled at that instant, fail it only when none is, and
// break a stream only for a cause the mode allows. Whatever the schedule, the checker must find
// nothing in such a history; a history with one planted defect must show that defect. Nothing
// happens in the first QUIET_MS, so a defect planted there has no fault to hide behind.

import fc from 'fast-check';
import type { Bounds, FaultKind, HistoryRecord, OperatorAction, RunRecord } from './history.js';

export const QUIET_MS = 10_000;
export const SPAN_MS = 60_000;
export const BOUNDS: Bounds = { detectionMs: 3000, applyMs: 500, failoverMs: 3000, repairMs: 2000, settleMs: 5000 };
export const LBS = ['lb1', 'lb2'] as const;

type BackendFault = 'backend-kill' | 'backend-blackhole' | 'backend-slow';
type LbFault = 'agent-sigkill' | 'agent-sigstop' | 'keepalived-kill' | 'vrrp-link-cut';
type RedisFault = 'redis-kill' | 'redis-restart-empty' | 'redis-partition';

export type Step =
  | { readonly type: 'backend'; readonly fault: BackendFault; readonly backend: number; readonly at: number; readonly dur: number }
  | { readonly type: 'lb'; readonly fault: LbFault; readonly lb: number; readonly at: number; readonly dur: number }
  | { readonly type: 'redis'; readonly fault: RedisFault; readonly at: number; readonly dur: number }
  | { readonly type: 'point'; readonly fault: 'agent-sighup-valid' | 'agent-sighup-invalid' | 'rules-flush'; readonly lb: number; readonly at: number }
  | { readonly type: 'op'; readonly action: OperatorAction; readonly lb: number; readonly backend: number; readonly at: number }
  | { readonly type: 'stream'; readonly farm: number; readonly at: number; readonly dur: number };

export interface Script {
  readonly seed: number;
  readonly conntrackd: boolean;
  readonly steps: readonly Step[];
}

const at = fc.integer({ min: QUIET_MS, max: SPAN_MS });
const dur = fc.integer({ min: 200, max: 8000 });
const idx = fc.nat(9);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ type: fc.constant('backend' as const), fault: fc.constantFrom<BackendFault>('backend-kill', 'backend-blackhole', 'backend-slow'), backend: idx, at, dur }),
  fc.record({ type: fc.constant('lb' as const), fault: fc.constantFrom<LbFault>('agent-sigkill', 'agent-sigstop', 'keepalived-kill', 'vrrp-link-cut'), lb: fc.nat(1), at, dur }),
  fc.record({ type: fc.constant('redis' as const), fault: fc.constantFrom<RedisFault>('redis-kill', 'redis-restart-empty', 'redis-partition'), at, dur }),
  fc.record({ type: fc.constant('point' as const), fault: fc.constantFrom('agent-sighup-valid' as const, 'agent-sighup-invalid' as const, 'rules-flush' as const), lb: fc.nat(1), at }),
  fc.record({ type: fc.constant('op' as const), action: fc.constantFrom<OperatorAction>('drain', 'maintenance', 'enable', 'enable', 'push-valid', 'push-invalid'), lb: fc.nat(1), backend: idx, at }),
  fc.record({ type: fc.constant('stream' as const), farm: fc.nat(1), at: fc.integer({ min: 0, max: SPAN_MS }), dur: fc.integer({ min: 1000, max: 30_000 }) }),
);

export const scriptArb: fc.Arbitrary<Script> = fc.record({
  seed: fc.nat(), conntrackd: fc.boolean(), steps: fc.array(step, { minLength: 5, maxLength: 60, size: 'max' }),
});

/** Farm 0 has three backends (one weighing 2), farm 1 two. */
export const FARMS: RunRecord['farms'] = [
  { name: 'web', vip: '10.0.0.100', backends: ['web0', 'web1', 'web2'], weights: { web0: 2 } },
  { name: 'api', vip: '10.0.0.101', backends: ['api0', 'api1'] },
];
const ALL = FARMS.flatMap((f) => f.backends.map((b) => ({ farm: f.name, backend: b })));

interface Window { fault: FaultKind; target: string; start: number; end: number }

/** Plays a script against the ideal LBs; the records come out in time order. */
export function buildHistory(script: Script): HistoryRecord[] {
  const { detectionMs: D, failoverMs: F, settleMs } = BOUNDS;
  const out: HistoryRecord[] = [];
  const run: RunRecord = { kind: 'run', t: 0, seed: script.seed, minutes: 1, mode: 'dnat', conntrackd: script.conntrackd, lbs: [...LBS], farms: FARMS, bounds: BOUNDS };
  out.push(run, { kind: 'vip', t: 0, node: 'lb1', holds: true }, { kind: 'vip', t: 0, node: 'lb2', holds: false });
  const windows: Window[] = [];
  let id = 0;
  const ops: { t: number; action: OperatorAction; node: string; farm: string; backend: string }[] = [];
  for (const s of script.steps) {
    switch (s.type) {
      case 'backend': windows.push({ fault: s.fault, target: ALL[s.backend % ALL.length]!.backend, start: s.at, end: s.at + s.dur }); break;
      case 'lb': windows.push({ fault: s.fault, target: LBS[s.lb]!, start: s.at, end: s.at + s.dur }); break;
      case 'redis': windows.push({ fault: s.fault, target: s.fault === 'redis-partition' ? 'lb2' : 'redis', start: s.at, end: s.at + s.dur }); break;
      case 'point': windows.push({ fault: s.fault, target: LBS[s.lb]!, start: s.at, end: s.at }); break;
      case 'op': { const b = ALL[s.backend % ALL.length]!; ops.push({ t: s.at, action: s.action, node: LBS[s.lb]!, ...b }); break; }
      case 'stream': break;
    }
  }
  windows.sort((a, b) => a.start - b.start);
  ops.sort((a, b) => a.t - b.t);
  for (const w of windows) {
    const fid = ++id;
    if (w.start === w.end) out.push({ kind: 'fault', t: w.start, id: fid, fault: w.fault, target: w.target, phase: 'point' });
    else out.push({ kind: 'fault', t: w.start, id: fid, fault: w.fault, target: w.target, phase: 'start' }, { kind: 'fault', t: w.end, id: fid, fault: w.fault, target: w.target, phase: 'end' });
  }
  for (const o of ops) {
    const admin = o.action === 'drain' || o.action === 'maintenance' || o.action === 'enable';
    out.push({ kind: 'op', t: o.t, node: o.node, action: o.action, ok: o.action !== 'push-invalid', ...(admin ? { farm: o.farm, backend: o.backend } : {}), ...(o.action === 'push-invalid' ? { error: 'farms.0.vip: invalid address' } : {}) });
  }

  const isDown = (b: string, t: number) => windows.some((w) => w.target === b && (w.fault === 'backend-kill' || w.fault === 'backend-blackhole') && w.start <= t && t <= w.end);
  const adminOf = (farm: string, b: string, t: number): 'enabled' | 'drain' | 'maintenance' => {
    let a: 'enabled' | 'drain' | 'maintenance' = 'enabled';
    for (const o of ops) if (o.t <= t && o.farm === farm && o.backend === b && o.action !== 'push-valid' && o.action !== 'push-invalid') a = o.action === 'enable' ? 'enabled' : o.action;
    return a;
  };
  const usable = (farm: (typeof FARMS)[number], t: number) => farm.backends.filter((b) => !isDown(b, t) && adminOf(farm.name, b, t) === 'enabled');

  // The ideal agents mark a down backend half a detection bound late, on both LBs.
  for (const w of windows) {
    if (w.fault !== 'backend-kill' && w.fault !== 'backend-blackhole') continue;
    const farm = FARMS.find((f) => f.backends.includes(w.target))!;
    for (const node of LBS) {
      out.push({ kind: 'health', t: w.start + D / 2, node, farm: farm.name, backend: w.target, state: 'down', admin: 'enabled' });
      out.push({ kind: 'health', t: w.end + D / 2, node, farm: farm.name, backend: w.target, state: 'up', admin: 'enabled' });
    }
    // A connection in flight as it went down.
    out.push({ kind: 'conn', t: w.start - 10, end: w.start + 5, farm: farm.name, ok: false, error: 'ECONNRESET' });
  }
  let holder = 'lb1';
  for (const w of windows) {
    if (w.fault === 'agent-sigkill') out.push({ kind: 'exit', t: w.start + 100, node: w.target, process: 'agent', code: null, signal: 'SIGKILL' });
    if (w.fault === 'keepalived-kill') out.push({ kind: 'exit', t: w.start + 100, node: w.target, process: 'keepalived', code: null, signal: 'SIGKILL' });
    if (w.fault === 'redis-kill' || w.fault === 'redis-restart-empty') out.push({ kind: 'exit', t: w.start + 100, node: 'redis', process: 'redis', code: null, signal: 'SIGKILL' });
    if (['agent-sigkill', 'agent-sigstop', 'keepalived-kill', 'vrrp-link-cut'].includes(w.fault) && w.target === holder) {
      const peer = holder === 'lb1' ? 'lb2' : 'lb1';
      out.push({ kind: 'conn', t: w.start + F / 4, end: w.start + F / 4 + 50, farm: 'web', ok: false, error: 'ETIMEDOUT' });
      out.push({ kind: 'vip', t: w.start + F / 2, node: holder, holds: false }, { kind: 'vip', t: w.start + F / 2, node: peer, holds: true });
      holder = peer;
    }
    if (w.fault === 'agent-sighup-invalid') out.push({ kind: 'log', t: w.start + 5, node: w.target, level: 'error', msg: 'reload refused: invalid config', line: '{"level":50}' });
  }

  const lastActivity = Math.max(SPAN_MS, ...windows.map((w) => w.end), ...ops.map((o) => o.t));
  const finalT = lastActivity + settleMs;
  let rr = 0;
  for (let t = 0; t < finalT; t += 250) {
    const farm = FARMS[(t / 250) % 2]!;
    const ok = usable(farm, t);
    if (ok.length === 0) out.push({ kind: 'conn', t, end: t + 5, farm: farm.name, ok: false, error: 'ECONNREFUSED' });
    else out.push({ kind: 'conn', t, end: t + 20, farm: farm.name, ok: true, backend: ok[rr++ % ok.length]! });
  }

  let sid = 0;
  for (const s of script.steps) {
    if (s.type !== 'stream') continue;
    const farm = FARMS[s.farm]!;
    const on = usable(farm, s.at);
    if (on.length === 0) continue;
    const b = on[s.at % on.length]!;
    const causes = [
      ...windows.filter((w) => w.target === b && (w.fault === 'backend-kill' || w.fault === 'backend-blackhole')).map((w) => w.start),
      ...ops.filter((o) => o.action === 'maintenance' && o.farm === farm.name && o.backend === b).map((o) => o.t),
      ...(script.conntrackd ? [] : windows.filter((w) => ['agent-sigkill', 'agent-sigstop', 'keepalived-kill', 'vrrp-link-cut'].includes(w.fault)).map((w) => w.start)),
    ].filter((c) => c > s.at && c <= s.at + s.dur);
    const sidN = ++sid;
    out.push({ kind: 'stream', t: s.at, id: sidN, farm: farm.name, phase: 'open', backend: b });
    if (causes.length > 0) out.push({ kind: 'stream', t: Math.min(...causes) + 1, id: sidN, farm: farm.name, phase: 'break', backend: b, error: 'ECONNRESET' });
    else out.push({ kind: 'stream', t: s.at + s.dur, id: sidN, farm: farm.name, phase: 'close', backend: b });
  }

  const truth = Object.fromEntries(FARMS.map((f) => [f.name, Object.fromEntries(f.backends.map((b) => [b, true]))]));
  const kernel = Object.fromEntries(FARMS.map((f) => {
    const up = usable(f, finalT);
    const total = up.reduce((s, b) => s + (f.weights?.[b] ?? 1), 0);
    return [f.name, Object.fromEntries(f.backends.map((b) => [b, up.includes(b) ? (f.weights?.[b] ?? 1) / total : 0]))];
  }));
  const status = Object.fromEntries(FARMS.map((f) => [f.name, Object.fromEntries(f.backends.map((b) => [b, { state: 'up' as const, admin: adminOf(f.name, b, finalT) }]))]));
  out.push({ kind: 'final', t: finalT, truth, nodes: LBS.map((node) => ({ node, kernel, status })) });
  // The runner's teardown, after the final comparison: not a fault.
  out.push({ kind: 'exit', t: finalT + 50, node: 'lb1', process: 'agent', code: 0, signal: 'SIGTERM' });
  out.push({ kind: 'end', t: finalT + 100 });
  return out.sort((a, b) => a.t - b.t);
}
