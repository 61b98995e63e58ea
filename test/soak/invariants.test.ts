// Each invariant of the soak checker against a small hand-written history: a planted violation is
// found under the right name, and the near miss just inside each bound is not (a checker that
// flags everything would pass the first half and fail the second).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory } from './checker.js';
import type { FaultKind, FinalRecord, HistoryRecord, RunRecord } from './history.js';
import type { InvariantName } from './invariants/violation.js';

// detection + apply = 3500, failover 3000, repair 2000, apply 500.
const BOUNDS = { detectionMs: 3000, applyMs: 500, failoverMs: 3000, repairMs: 2000, settleMs: 5000 };
const FINAL_T = 100_000;

function run(over: Partial<RunRecord> = {}): RunRecord {
  return { kind: 'run', t: 0, seed: 1, minutes: 2, mode: 'dnat', conntrackd: false, lbs: ['lb1', 'lb2'], farms: [{ name: 'web', vip: '10.0.0.100', backends: ['a', 'b'] }], bounds: BOUNDS, ...over };
}

type Share = Record<string, number>;
type Status = Record<string, { state: 'up' | 'down'; admin: 'enabled' | 'drain' | 'maintenance' }>;
const UP: Status = { a: { state: 'up', admin: 'enabled' }, b: { state: 'up', admin: 'enabled' } };

function final(opts: { truth?: Record<string, boolean>; kernel?: [Share, Share]; status?: [Status, Status]; t?: number } = {}): FinalRecord {
  const kernel = opts.kernel ?? [{ a: 0.5, b: 0.5 }, { a: 0.5, b: 0.5 }];
  const status = opts.status ?? [UP, UP];
  return {
    kind: 'final', t: opts.t ?? FINAL_T, truth: { web: opts.truth ?? { a: true, b: true } },
    nodes: [{ node: 'lb1', kernel: { web: kernel[0] }, status: { web: status[0] } }, { node: 'lb2', kernel: { web: kernel[1] }, status: { web: status[1] } }],
  };
}

function history(extra: HistoryRecord[], opts: { run?: Partial<RunRecord>; final?: FinalRecord | null; end?: boolean } = {}): HistoryRecord[] {
  const out: HistoryRecord[] = [run(opts.run), ...extra];
  if (opts.final !== null) out.push(opts.final ?? final());
  if (opts.end !== false) out.push({ kind: 'end', t: FINAL_T + 100 });
  return out;
}

const exit = (t: number, process: 'agent' | 'keepalived' | 'redis' | 'bird', node = 'lb1', signal: string | null = null, code: number | null = 1): HistoryRecord => ({ kind: 'exit', t, node, process, code, signal });
const found = (records: HistoryRecord[]): InvariantName[] => checkHistory(records).violations.map((v) => v.invariant);
const clean = (records: HistoryRecord[]): void => assert.deepEqual(checkHistory(records).violations, []);
const flags = (records: HistoryRecord[], name: InvariantName): void => assert.ok(found(records).includes(name), `expected ${name}, got ${JSON.stringify(checkHistory(records).violations)}`);

const fault = (fault: FaultKind, target: string, start: number, end?: number, id = start): HistoryRecord[] =>
  end === undefined
    ? [{ kind: 'fault', t: start, id, fault, target, phase: 'point' }]
    : [{ kind: 'fault', t: start, id, fault, target, phase: 'start' }, { kind: 'fault', t: end, id, fault, target, phase: 'end' }];
const failed = (t: number, end = t + 5): HistoryRecord => ({ kind: 'conn', t, end, farm: 'web', ok: false, error: 'ECONNREFUSED' });
const answered = (t: number, backend: string): HistoryRecord => ({ kind: 'conn', t, end: t + 5, farm: 'web', ok: true, backend });
const op = (t: number, action: 'drain' | 'maintenance' | 'enable', backend: string, ok = true): HistoryRecord => ({ kind: 'op', t, node: 'lb1', action, farm: 'web', backend, ok });
/** An operator command sent at `sent` that agentctl answered at `t` (the node blocked it meanwhile). */
const slowOp = (sent: number, t: number, action: 'drain' | 'maintenance' | 'enable', backend: string): HistoryRecord => ({ kind: 'op', t, sent, node: 'lb2', action, farm: 'web', backend, ok: true });

describe('soak checker: a failed new connection needs a fault to explain it', () => {
  it('flags a failure with nothing around it', () => flags(history([failed(20_000)]), 'failure-unexplained'));
  it('a backend kill explains failures until detection + apply after it started', () => {
    clean(history([...fault('backend-kill', 'a', 20_000, 30_000), failed(23_500)]));
    flags(history([...fault('backend-kill', 'a', 20_000, 30_000), failed(23_501)]), 'failure-unexplained');
  });
  it('a connection in flight when its backend went down is explained', () => {
    clean(history([...fault('backend-blackhole', 'a', 20_000, 30_000), failed(19_990, 20_005)]));
    flags(history([...fault('backend-blackhole', 'a', 20_000, 30_000), failed(19_990, 19_999)]), 'failure-unexplained');
  });
  it('a slow backend explains failures while slow, and detection + apply after', () => {
    clean(history([...fault('backend-slow', 'a', 20_000, 30_000), failed(33_500)]));
    flags(history([...fault('backend-slow', 'a', 20_000, 30_000), failed(33_501)]), 'failure-unexplained');
  });
  it('an LB fault explains failures within the failover bound of its start and of its end', () => {
    const lb = fault('agent-sigstop', 'lb1', 20_000, 40_000);
    clean(history([...lb, failed(23_000), failed(43_000)]));
    flags(history([...lb, failed(23_001, 23_010)]), 'failure-unexplained');
    flags(history([...lb, failed(43_001)]), 'failure-unexplained');
  });
  it('a rules flush explains failures until the repair bound', () => {
    clean(history([...fault('rules-flush', 'lb1', 20_000), failed(22_000)]));
    flags(history([...fault('rules-flush', 'lb1', 20_000), failed(22_001)]), 'failure-unexplained');
  });
  it('all backends down explains failures for as long as it lasts, and up to detection + apply after', () => {
    const both = [...fault('backend-kill', 'a', 20_000, 60_000, 1), ...fault('backend-kill', 'b', 20_000, 60_000, 2)];
    clean(history([...both, failed(40_000), failed(63_500)]));
    flags(history([...both, failed(63_501)]), 'failure-unexplained');
    flags(history([...fault('backend-kill', 'a', 20_000, 60_000, 1), ...fault('backend-kill', 'b', 20_000, 25_000, 2), failed(40_000)]), 'failure-unexplained');
  });
  it('all backends drained explains failures; a refused drain does not', () => {
    clean(history([op(20_000, 'drain', 'a'), op(20_000, 'maintenance', 'b'), failed(40_000)], { final: final({ kernel: [{}, {}], status: [{ a: { state: 'up', admin: 'drain' }, b: { state: 'up', admin: 'maintenance' } }, { a: { state: 'up', admin: 'drain' }, b: { state: 'up', admin: 'maintenance' } }] }) }));
    flags(history([op(20_000, 'drain', 'a'), op(20_000, 'drain', 'b', false), failed(40_000)], { final: final({ kernel: [{ b: 1 }, { b: 1 }], status: [{ ...UP, a: { state: 'up', admin: 'drain' } }, { ...UP, a: { state: 'up', admin: 'drain' } }] }) }), 'failure-unexplained');
  });
  it('an operator drain explains failures while it is being applied', () => {
    const drained = { final: final({ kernel: [{ b: 1 }, { b: 1 }], status: [{ ...UP, a: { state: 'up', admin: 'drain' } }, { ...UP, a: { state: 'up', admin: 'drain' } }] }) };
    clean(history([op(20_000, 'drain', 'a'), failed(20_500)], drained));
    flags(history([op(20_000, 'drain', 'a'), failed(20_501)], drained), 'failure-unexplained');
  });
  it('a drain answered late explains failures from when it was sent until apply after its answer', () => {
    const drained = { final: final({ kernel: [{ b: 1 }, { b: 1 }], status: [{ ...UP, a: { state: 'up', admin: 'drain' } }, { ...UP, a: { state: 'up', admin: 'drain' } }] }) };
    clean(history([slowOp(20_000, 26_000, 'drain', 'a'), failed(20_000), failed(26_500)], drained));
    flags(history([slowOp(20_000, 26_000, 'drain', 'a'), failed(19_990, 19_999)], drained), 'failure-unexplained');
    flags(history([slowOp(20_000, 26_000, 'drain', 'a'), failed(26_501)], drained), 'failure-unexplained');
  });
  it('Redis faults and SIGHUPs explain nothing', () => {
    flags(history([...fault('redis-kill', 'redis', 20_000, 30_000), failed(25_000)]), 'failure-unexplained');
    flags(history([...fault('agent-sighup-valid', 'lb1', 20_000), failed(20_000)]), 'failure-unexplained');
  });
  it('a stopped agent stretches the detection bound to a full bound after it runs again', () => {
    const stop = fault('agent-sigstop', 'lb2', 20_000, 30_000, 1); // failover 3000: disrupted until 33000
    clean(history([...stop, ...fault('backend-kill', 'a', 21_000, 60_000, 2), failed(36_500)]));
    flags(history([...stop, ...fault('backend-kill', 'a', 21_000, 60_000, 2), failed(36_501)]), 'failure-unexplained');
  });
});

describe('soak checker: no new connection reaches a backend taken out', () => {
  it('a killed backend may answer until detection + apply, not after, until it comes back', () => {
    const kill = fault('backend-kill', 'a', 20_000, 30_000);
    clean(history([...kill, answered(23_500, 'a'), answered(30_000, 'a')]));
    flags(history([...kill, answered(23_501, 'a')]), 'reached-down-backend');
  });
  it('a slow backend may answer throughout', () => clean(history([...fault('backend-slow', 'a', 20_000, 30_000), answered(25_000, 'a')])));
  it('a drained backend may answer until apply, not after, until enabled', () => {
    const ops = [op(20_000, 'drain', 'a'), op(40_000, 'enable', 'a')];
    clean(history([...ops, answered(20_500, 'a'), answered(40_000, 'a')]));
    flags(history([...ops, answered(20_501, 'a')]), 'reached-drained-backend');
    // Answered (end) just before the enable was sent: wholly inside the forbidden time.
    flags(history([op(20_000, 'maintenance', 'a'), op(40_000, 'enable', 'a'), answered(39_994, 'a')]), 'reached-drained-backend');
  });
  it('a refused drain takes nothing out', () => clean(history([op(20_000, 'drain', 'a', false), answered(30_000, 'a')])));
  it('an answer that came late: the apply bound runs from the answer, the enable frees it from when it was sent', () => {
    // Sent at 20 s, answered at 26 s: the node took the drain at some moment in between.
    const ops = [slowOp(20_000, 26_000, 'drain', 'a'), slowOp(40_000, 45_000, 'enable', 'a')];
    clean(history([...ops, answered(26_500, 'a'), answered(40_000, 'a'), answered(44_000, 'a')]));
    flags(history([...ops, answered(26_501, 'a')]), 'reached-drained-backend');
    flags(history([...ops, answered(39_994, 'a')]), 'reached-drained-backend');
  });
  it('a connection may reach a drained backend anywhere from its start to its answer: a SYN sent again after the enable', () => {
    const late = (t: number, end: number): HistoryRecord => ({ kind: 'conn', t, end, farm: 'web', ok: true, backend: 'a' });
    clean(history([op(20_000, 'drain', 'a'), late(25_000, 31_000), op(30_000, 'enable', 'a')]));
    flags(history([op(20_000, 'drain', 'a'), late(25_000, 29_999), op(30_000, 'enable', 'a')]), 'reached-drained-backend');
  });
  it('a connection to a down backend is judged by its start: one sent after the deadline and answered once it is back is a violation', () => {
    const late = (t: number, end: number): HistoryRecord => ({ kind: 'conn', t, end, farm: 'web', ok: true, backend: 'a' });
    // Killed 20-30 s: its SYN at 25 s went to it (a rule or a flow entry it should not have) and
    // was answered after the restart; one started before the deadline may be answered then too.
    flags(history([...fault('backend-kill', 'a', 20_000, 30_000), late(25_000, 30_500)]), 'reached-down-backend');
    clean(history([...fault('backend-kill', 'a', 20_000, 30_000), late(20_100, 30_500)]));
    clean(history([...fault('backend-kill', 'a', 20_000, 30_000), late(30_100, 30_200)]));
  });
  it('dsr places every SYN afresh: a retransmission may meet the backend back in the rules, but not before any LB saw it up', () => {
    const late = (t: number, end: number): HistoryRecord => ({ kind: 'conn', t, end, farm: 'web', ok: true, backend: 'a' });
    const up = (t: number): HistoryRecord => ({ kind: 'health', t, node: 'lb1', farm: 'web', backend: 'a', state: 'up', admin: 'enabled' });
    const dsr = { run: { mode: 'dsr' as const } };
    clean(history([...fault('backend-kill', 'a', 20_000, 30_000), up(30_400), late(29_500, 30_500)], dsr));
    flags(history([...fault('backend-kill', 'a', 20_000, 30_000), up(31_000), late(29_500, 30_500)], dsr), 'reached-down-backend');
    // The same answer in dnat, where the flow entry pinned the SYN: sent after the deadline, a violation.
    flags(history([...fault('backend-kill', 'a', 20_000, 30_000), up(30_400), late(29_500, 30_500)]), 'reached-down-backend');
  });
  it('an answer before its command was sent is a broken history', () => flags(history([slowOp(20_000, 19_000, 'drain', 'a')]), 'history'));
  it('after a Redis fault the resync bound runs before the apply bound', () => {
    const cut = fault('redis-partition', 'lb1', 15_000, 20_000);
    flags(history([...cut, op(16_000, 'drain', 'a'), answered(21_000, 'a')]), 'reached-drained-backend');
    clean(history([...cut, op(16_000, 'drain', 'a'), answered(21_000, 'a'), answered(23_500, 'a'), op(40_000, 'enable', 'a')], { run: { bounds: { ...BOUNDS, resyncMs: 3000 } } }));
    flags(history([...cut, op(16_000, 'drain', 'a'), answered(23_501, 'a')], { run: { bounds: { ...BOUNDS, resyncMs: 3000 } } }), 'reached-drained-backend');
  });
  it('Redis away stretches the apply bound of an operator action', () => {
    const ops = [...fault('redis-partition', 'lb2', 19_000, 25_000), op(20_000, 'drain', 'a'), op(40_000, 'enable', 'a')];
    clean(history([...ops, answered(25_500, 'a')]));
    flags(history([...ops, answered(25_501, 'a')]), 'reached-drained-backend');
  });
});

describe('soak checker: a stream breaks only through a cause the mode allows', () => {
  const stream = (open: number, broke: number, backend = 'a'): HistoryRecord[] => [
    { kind: 'stream', t: open, id: 7, farm: 'web', phase: 'open', backend },
    { kind: 'stream', t: broke, id: 7, farm: 'web', phase: 'break', backend, error: 'ECONNRESET' },
  ];
  it('flags a break with no cause; a close is fine', () => {
    flags(history(stream(20_000, 30_000)), 'stream-broken');
    clean(history([{ kind: 'stream', t: 20_000, id: 7, farm: 'web', phase: 'open', backend: 'a' }, { kind: 'stream', t: 30_000, id: 7, farm: 'web', phase: 'close', backend: 'a' }]));
  });
  it('its own backend failing explains it, another backend failing does not', () => {
    clean(history([...stream(20_000, 30_000), ...fault('backend-kill', 'a', 25_000, 28_000)]));
    flags(history([...stream(20_000, 30_000), ...fault('backend-kill', 'b', 25_000, 28_000)]), 'stream-broken');
  });
  it('its backend failing long before does not explain a later break: only up to detection + apply after the fault ended', () => {
    // A stream that outlived the fault was not broken by it (a lost conntrack entry, say, is another cause).
    clean(history([...stream(20_000, 31_500), ...fault('backend-slow', 'a', 25_000, 28_000)]));
    flags(history([...stream(20_000, 31_501), ...fault('backend-slow', 'a', 25_000, 28_000)]), 'stream-broken');
  });
  it('maintenance explains it (also set just before it opened), a drain does not', () => {
    const m = { final: final({ kernel: [{ b: 1 }, { b: 1 }], status: [{ ...UP, a: { state: 'up', admin: 'maintenance' } }, { ...UP, a: { state: 'up', admin: 'maintenance' } }] }) };
    clean(history([...stream(20_000, 30_000), op(25_000, 'maintenance', 'a')], m));
    clean(history([...stream(20_000, 30_000), op(19_500, 'maintenance', 'a')], m));
    flags(history([...stream(20_000, 30_000), op(19_499, 'maintenance', 'a')], m), 'stream-broken');
    const d = { final: final({ kernel: [{ b: 1 }, { b: 1 }], status: [{ ...UP, a: { state: 'up', admin: 'drain' } }, { ...UP, a: { state: 'up', admin: 'drain' } }] }) };
    flags(history([...stream(20_000, 30_000), op(25_000, 'drain', 'a')], d), 'stream-broken');
  });
  it('maintenance whose answer came late explains a break from when it was sent, not before', () => {
    const m = { final: final({ kernel: [{ b: 1 }, { b: 1 }], status: [{ ...UP, a: { state: 'up', admin: 'maintenance' } }, { ...UP, a: { state: 'up', admin: 'maintenance' } }] }) };
    clean(history([...stream(20_000, 30_000), slowOp(29_000, 31_000, 'maintenance', 'a')], m));
    flags(history([...stream(20_000, 30_000), slowOp(30_001, 31_000, 'maintenance', 'a')], m), 'stream-broken');
  });
  it('a down mark cuts it (cut_on_down), seen up to apply after the break; not with cut_on_down off', () => {
    const down = (t: number): HistoryRecord => ({ kind: 'health', t, node: 'lb2', farm: 'web', backend: 'a', state: 'down', admin: 'enabled' });
    clean(history([...stream(20_000, 30_000), down(30_500)]));
    flags(history([...stream(20_000, 30_000), down(30_501)]), 'stream-broken');
    flags(history([...stream(20_000, 30_000), down(25_000)], { run: { cutOnDown: false } }), 'stream-broken');
  });
  it('dnat without conntrackd: any failover; dsr: none', () => {
    const lb = fault('keepalived-kill', 'lb1', 25_000, 26_000);
    clean(history([...stream(20_000, 26_010), ...lb]));
    clean(history([...stream(20_000, 32_000), ...lb]));
    flags(history([...stream(20_000, 32_001), ...lb]), 'stream-broken');
    flags(history([...stream(20_000, 26_010), ...lb], { run: { mode: 'dsr' } }), 'stream-broken');
  });
  it('dsr keeps no flow entry: a drain moves its backend\'s flows as maintenance does', () => {
    const d = { final: final({ kernel: [{ b: 1 }, { b: 1 }], status: [{ ...UP, a: { state: 'up', admin: 'drain' } }, { ...UP, a: { state: 'up', admin: 'drain' } }] }) };
    // Drained at 25 s, in the rules by 25.5 s, noticed within the client's 2 s echo timeout.
    clean(history([...stream(20_000, 27_500), op(25_000, 'drain', 'a')], { ...d, run: { mode: 'dsr' } }));
    flags(history([...stream(20_000, 27_501), op(25_000, 'drain', 'a')], { ...d, run: { mode: 'dsr' } }), 'stream-broken');
    flags(history([...stream(20_000, 27_000), op(25_000, 'drain', 'b')], { final: final({ kernel: [{ a: 1 }, { a: 1 }], status: [{ ...UP, b: { state: 'up', admin: 'drain' } }, { ...UP, b: { state: 'up', admin: 'drain' } }] }), run: { mode: 'dsr' } }), 'stream-broken');
  });
  it('dsr: another backend coming back takes back its buckets, breaking a stream opened while it was out; not one opened before, nor in dnat', () => {
    const h = (t: number, state: 'up' | 'down', admin: 'enabled' | 'drain' = 'enabled'): HistoryRecord => ({ kind: 'health', t, node: 'lb3', farm: 'web', backend: 'b', state, admin });
    const dsr = { run: { mode: 'dsr' as const } };
    // b out from 19 s to 29 s: a stream on a opened at 20 s may be on b's buckets.
    clean(history([h(19_000, 'down'), ...stream(20_000, 29_200), h(29_000, 'up')], dsr));
    // Within apply (500 ms here) either side of the status poll that saw it back.
    clean(history([h(19_000, 'up', 'drain'), ...stream(20_000, 28_500), h(29_000, 'up')], dsr));
    flags(history([h(19_000, 'down'), ...stream(20_000, 29_501), h(29_000, 'up')], dsr), 'stream-broken');
    flags(history([h(19_000, 'down'), ...stream(20_000, 28_499), h(29_000, 'up')], dsr), 'stream-broken');
    flags(history([...stream(15_000, 29_200), h(19_000, 'down'), h(29_000, 'up')], dsr), 'stream-broken');
    flags(history([h(19_000, 'down'), ...stream(20_000, 29_200), h(29_000, 'up')]), 'stream-broken');
  });
  it('dsr: a flow the router moves to an LB that disagrees on the backends may break; with the LBs agreeing, or no route change, not', () => {
    const h = (t: number, node: string, backend: string, state: 'up' | 'down', admin: 'enabled' | 'maintenance' = 'enabled'): HistoryRecord => ({ kind: 'health', t, node, farm: 'web', backend, state, admin });
    const vip = (t: number, node: string, holds: boolean): HistoryRecord => ({ kind: 'vip', t, node, holds });
    const dsr = { run: { mode: 'dsr' as const, topology: 'active-active' as const } };
    // lb1 kept b in maintenance (cut off from Redis) while lb2 had it back; lb2 leaves the route at 30 s.
    const diverged = [h(1000, 'lb1', 'b', 'up'), h(1000, 'lb2', 'b', 'up'), h(10_000, 'lb1', 'b', 'up', 'maintenance'), h(10_000, 'lb2', 'b', 'up', 'maintenance'), h(15_000, 'lb2', 'b', 'up')];
    clean(history([...diverged, ...stream(20_000, 30_300), vip(30_000, 'lb2', false)], dsr));
    flags(history([...diverged, ...stream(20_000, 31_501), vip(30_000, 'lb2', false)], dsr), 'stream-broken');
    flags(history([...diverged, ...stream(20_000, 30_300)], dsr), 'stream-broken');
    const agreed = [h(1000, 'lb1', 'b', 'up'), h(1000, 'lb2', 'b', 'up')];
    flags(history([...agreed, ...stream(20_000, 30_300), vip(30_000, 'lb2', false)], dsr), 'stream-broken');
  });
  it('dsr: a flow may vanish rather than be reset, so its break may come up to the client\'s stream timeout after the event', () => {
    const h = (t: number, state: 'up' | 'down'): HistoryRecord => ({ kind: 'health', t, node: 'lb3', farm: 'web', backend: 'b', state, admin: 'enabled' });
    const slow = { run: { mode: 'dsr' as const, bounds: { ...BOUNDS, streamTimeoutMs: 2000 } } };
    clean(history([h(19_000, 'down'), ...stream(20_000, 31_500), h(29_000, 'up')], slow));
    flags(history([h(19_000, 'down'), ...stream(20_000, 31_501), h(29_000, 'up')], slow), 'stream-broken');
    flags(history([h(19_000, 'down'), ...stream(20_000, 31_500), h(29_000, 'up')], { run: { mode: 'dsr' } }), 'stream-broken');
  });
  it('dsr: an external flush of the rules breaks the flows through that LB until the repair; in dnat conntrack keeps them', () => {
    const slow = { run: { mode: 'dsr' as const, bounds: { ...BOUNDS, streamTimeoutMs: 2000 } } };
    clean(history([...stream(20_000, 29_000), ...fault('rules-flush', 'lb1', 25_000)], slow));
    flags(history([...stream(20_000, 29_001), ...fault('rules-flush', 'lb1', 25_000)], slow), 'stream-broken');
    flags(history([...stream(25_001, 26_000), ...fault('rules-flush', 'lb1', 25_000)], slow), 'stream-broken');
    flags(history([...stream(20_000, 25_500), ...fault('rules-flush', 'lb1', 25_000)]), 'stream-broken');
  });
  it('with conntrackd: only a stream opened less than the sync window before the failover', () => {
    clean(history([...stream(20_000, 22_010), ...fault('vrrp-link-cut', 'lb1', 21_999, 50_000)], { run: { conntrackd: true } }));
    flags(history([...stream(20_000, 22_010), ...fault('vrrp-link-cut', 'lb1', 22_000, 50_000)], { run: { conntrackd: true } }), 'stream-broken');
    flags(history([...stream(20_000, 22_010), ...fault('vrrp-link-cut', 'lb1', 21_000, 50_000)], { run: { conntrackd: true, bounds: { ...BOUNDS, conntrackSyncMs: 500 } } }), 'stream-broken');
  });
});

describe('soak checker: the settled state', () => {
  it('the base history is clean', () => clean(history([])));
  it('flags LBs whose shares differ, within the rounding tolerance not', () => {
    flags(history([], { final: final({ kernel: [{ a: 0.5, b: 0.5 }, { a: 0.8, b: 0.2 }] }) }), 'final-rules-differ');
    clean(history([], { final: final({ kernel: [{ a: 0.5, b: 0.5 }, { a: 0.505, b: 0.495 }] }) }));
  });
  it('flags shares that do not match the health truth', () => {
    flags(history([], { final: final({ truth: { a: false, b: true } }) }), 'final-truth');
    clean(history([], { final: final({ truth: { a: false, b: true }, kernel: [{ a: 0, b: 1 }, { b: 1 }], status: [{ ...UP, a: { state: 'down', admin: 'enabled' } }, { ...UP, a: { state: 'down', admin: 'enabled' } }] }) }));
  });
  it('shares follow weights', () => {
    const weighted = { run: { farms: [{ name: 'web', vip: '10.0.0.100', backends: ['a', 'b'], weights: { a: 3 } }] } };
    clean(history([], { ...weighted, final: final({ kernel: [{ a: 0.75, b: 0.25 }, { a: 0.75, b: 0.25 }] }) }));
    flags(history([], weighted), 'final-truth');
  });
  it('flags an accepted operator action lost; a refused one changes nothing', () => {
    flags(history([op(50_000, 'drain', 'a')]), 'final-admin-lost');
    clean(history([op(50_000, 'drain', 'a', false)]));
    clean(history([op(50_000, 'drain', 'a')], { final: final({ kernel: [{ b: 1 }, { b: 1 }], status: [{ ...UP, a: { state: 'up', admin: 'drain' } }, { ...UP, a: { state: 'up', admin: 'drain' } }] }) }));
    flags(history([op(50_000, 'drain', 'a')], { final: final({ status: [{ ...UP, a: { state: 'up', admin: 'drain' } }, { ...UP, a: { state: 'up', admin: 'drain' } }] }) }), 'final-admin-lost');
  });
  it('flags a status that disagrees with its kernel', () => {
    const s: Status = { ...UP, a: { state: 'down', admin: 'enabled' } };
    flags(history([], { final: final({ status: [s, UP] }) }), 'final-status-kernel');
    flags(history([], { final: final({ status: [{ b: UP.b! }, UP] }) }), 'final-status-kernel');
  });
  it('flags a final record taken before the settle time, or missing, or missing an LB', () => {
    clean(history([op(FINAL_T - 5000, 'enable', 'a')]));
    flags(history([op(FINAL_T - 4999, 'enable', 'a')]), 'final-unsettled');
    flags(history([], { final: null }), 'final-missing');
    const one = final();
    flags(history([], { final: { ...one, nodes: one.nodes.slice(0, 1) } }), 'final-missing');
  });
});

describe('soak checker: the settled state of active-active bucket tables', () => {
  const aa = { run: { mode: 'dsr' as const, topology: 'active-active' as const, shareTolerance: 0.09 } };
  const withDigest = (f: FinalRecord, digests: [string, string]): FinalRecord => ({ ...f, nodes: f.nodes.map((n, i) => ({ ...n, digest: { web: digests[i]! } })) });
  it('shares within the run\'s tolerance of weight-proportional pass; the pair\'s own tolerance does not widen', () => {
    const skewed = final({ kernel: [{ a: 0.45, b: 0.55 }, { a: 0.45, b: 0.55 }] });
    clean(history([], { ...aa, final: skewed }));
    flags(history([], { final: skewed }), 'final-truth');
    flags(history([], { ...aa, final: final({ kernel: [{ a: 0.4, b: 0.6 }, { a: 0.4, b: 0.6 }] }) }), 'final-truth');
  });
  it('a backend that should get nothing is held to the tight bound whatever the tolerance', () => {
    const down: Status = { ...UP, a: { state: 'down', admin: 'enabled' } };
    flags(history([], { ...aa, final: final({ truth: { a: false, b: true }, kernel: [{ a: 0.05, b: 0.95 }, { a: 0.05, b: 0.95 }], status: [down, down] }) }), 'final-truth');
    clean(history([], { ...aa, final: final({ truth: { a: false, b: true }, kernel: [{ b: 1 }, { b: 1 }], status: [down, down] }) }));
  });
  it('flags LBs whose tables differ with the same shares (digest); the same digest is clean', () => {
    flags(history([], { ...aa, final: withDigest(final(), ['aaaa', 'bbbb']) }), 'final-rules-differ');
    clean(history([], { ...aa, final: withDigest(final(), ['aaaa', 'aaaa']) }));
  });
});

describe('soak checker: active-active LB faults', () => {
  const aa = { run: { mode: 'dsr' as const, topology: 'active-active' as const } };
  it('a BIRD kill is an LB fault: it explains failures within the failover bound, and BIRD\'s exit', () => {
    clean(history([...fault('bird-kill', 'lb1', 20_000, 20_500), failed(22_900), exit(20_010, 'bird', 'lb1', null, null)], aa));
    flags(history([...fault('bird-kill', 'lb1', 20_000, 20_500), failed(23_501)], aa), 'failure-unexplained');
    flags(history([...fault('bird-kill', 'lb1', 20_000, 20_500), exit(20_010, 'bird', 'lb2', null, null)], aa), 'process-exit');
    flags(history([...fault('agent-sigstop', 'lb1', 20_000, 21_000), exit(20_010, 'bird', 'lb1', null, null)], aa), 'process-exit');
  });
  it('the worst failover is the router\'s route leaving the faulty LB', () => {
    const vip = (t: number, node: string, holds: boolean): HistoryRecord => ({ kind: 'vip', t, node, holds });
    const r = checkHistory(history([vip(1000, 'lb1', true), vip(1000, 'lb2', true), ...fault('agent-sigkill', 'lb1', 20_000, 22_000), vip(21_400, 'lb1', false), vip(24_000, 'lb1', true),
      ...fault('agent-sigstop', 'lb2', 30_000, 30_500), vip(40_000, 'lb2', false), vip(40_100, 'lb2', true)], aa));
    assert.equal(r.worstFailover?.ms, 1400);
    assert.match(r.worstFailover?.what ?? '', /agent-sigkill of lb1/);
  });
  it('an LB made silent explains failures within the failover bound, and no stream break in dsr', () => {
    clean(history([...fault('lb-silent', 'lb2', 20_000, 24_000), failed(22_000), failed(26_500)], aa));
    flags(history([...fault('lb-silent', 'lb2', 20_000, 24_000), failed(27_100)], aa), 'failure-unexplained');
    const open: HistoryRecord = { kind: 'stream', t: 10_000, id: 1, farm: 'web', phase: 'open', backend: 'a' };
    flags(history([...fault('lb-silent', 'lb2', 20_000, 24_000), open, { kind: 'stream', t: 20_500, id: 1, farm: 'web', phase: 'break', backend: 'a', error: 'ECHO_TIMEOUT' }], aa), 'stream-broken');
  });
});

describe('soak checker: processes and logs', () => {
  it('flags an agent exit with no fault', () => flags(history([exit(20_000, 'agent')]), 'process-exit'));
  it('a SIGKILL explains the agent dying by SIGKILL in its window, not later, not with an exit code', () => {
    const kill = fault('agent-sigkill', 'lb1', 20_000, 25_000);
    clean(history([...kill, exit(20_010, 'agent', 'lb1', 'SIGKILL', null), exit(30_000, 'agent', 'lb1', null, 137)]));
    flags(history([...kill, exit(30_001, 'agent', 'lb1', 'SIGKILL', null)]), 'process-exit');
    flags(history([...kill, exit(19_999, 'agent', 'lb1', 'SIGKILL', null)]), 'process-exit');
    flags(history([...kill, exit(20_100, 'agent', 'lb1', null, 1)]), 'process-exit');
    flags(history([...kill, exit(20_100, 'agent', 'lb2', 'SIGKILL', null)]), 'process-exit');
  });
  it('flags the agent exiting on a SIGHUP with an invalid config', () => {
    flags(history([...fault('agent-sighup-invalid', 'lb1', 20_000), exit(20_100, 'agent')]), 'exit-on-invalid-reload');
    flags(history([...fault('agent-sighup-valid', 'lb1', 20_000), exit(20_100, 'agent')]), 'process-exit');
  });
  it('daemons exit by their own kill or their agent restarted; Redis by its own kill', () => {
    clean(history([...fault('keepalived-kill', 'lb2', 20_000, 21_000), exit(20_100, 'keepalived', 'lb2', null, null)]));
    clean(history([...fault('agent-sigkill', 'lb2', 20_000, 21_000), exit(26_000, 'keepalived', 'lb2', null, null)]));
    flags(history([...fault('agent-sigkill', 'lb2', 20_000, 21_000), exit(26_001, 'keepalived', 'lb2', null, null)]), 'process-exit');
    flags(history([...fault('agent-sigstop', 'lb2', 20_000, 21_000), exit(20_100, 'keepalived', 'lb2', null, null)]), 'process-exit');
    flags(history([...fault('redis-kill', 'redis', 20_000, 21_000), exit(20_100, 'keepalived', 'lb2', null, null)]), 'process-exit');
    clean(history([...fault('redis-kill', 'redis', 20_000, 21_000), exit(20_100, 'redis', 'redis' as string, 'SIGKILL')]));
  });
  it('exits after the final record are teardown', () => clean(history([exit(FINAL_T + 50, 'agent', 'lb1', 'SIGTERM', null)])));
  it('flags fatal, unhandled and uncaught log lines; plain errors are fine', () => {
    const log = (level: string, msg: string): HistoryRecord => ({ kind: 'log', t: 20_000, node: 'lb1', level, msg, line: '{}' });
    flags(history([log('fatal', 'boom')]), 'log-fatal');
    flags(history([log('60', 'boom')]), 'log-fatal');
    flags(history([log('error', 'unhandled rejection: x')]), 'log-fatal');
    flags(history([log('error', 'Uncaught exception')]), 'log-fatal');
    clean(history([log('error', 'check failed: ECONNREFUSED')]));
  });
  it('flags a history cut short', () => flags(history([], { end: false }), 'cut-short'));
  it('flags a history without a run record, and unpaired faults', () => {
    assert.deepEqual(found([{ kind: 'end', t: 1 }]), ['history']);
    flags(history([{ kind: 'fault', t: 20_000, id: 3, fault: 'backend-kill', target: 'a', phase: 'end' }]), 'history');
  });
});
