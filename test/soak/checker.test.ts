// The soak checker against generated histories: whatever the schedule, a history played by ideal
// LBs has no violation, and one planted defect of each kind is found under its own name. Also
// the report's figures and the `check.js` command.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { checkHistory, formatReport } from './checker.js';
import type { FinalRecord, HistoryRecord } from './history.js';
import { FARMS, buildHistory, scriptArb, type Script } from './history.gen.js';
import type { InvariantName } from './invariants/violation.js';

const SEED = 0x50a4;

/** A schedule with a bit of everything. */
const EXAMPLE: Script = {
  seed: 14, conntrackd: false, steps: [
    { type: 'backend', fault: 'backend-kill', backend: 0, at: 12_000, dur: 6000 },
    { type: 'backend', fault: 'backend-blackhole', backend: 3, at: 15_000, dur: 10_000 },
    { type: 'backend', fault: 'backend-kill', backend: 4, at: 16_000, dur: 15_000 },
    { type: 'backend', fault: 'backend-slow', backend: 1, at: 20_000, dur: 3000 },
    { type: 'lb', fault: 'keepalived-kill', lb: 0, at: 27_000, dur: 1000 },
    { type: 'lb', fault: 'agent-sigkill', lb: 1, at: 30_000, dur: 2000 },
    { type: 'redis', fault: 'redis-restart-empty', at: 33_000, dur: 3000 },
    { type: 'point', fault: 'agent-sighup-invalid', lb: 0, at: 35_000 },
    { type: 'point', fault: 'rules-flush', lb: 1, at: 37_000 },
    { type: 'op', action: 'drain', lb: 0, backend: 2, at: 14_000 },
    { type: 'op', action: 'maintenance', lb: 1, backend: 1, at: 21_000 },
    { type: 'op', action: 'enable', lb: 0, backend: 1, at: 40_000 },
    { type: 'op', action: 'push-invalid', lb: 1, backend: 0, at: 41_000 },
    { type: 'stream', farm: 0, at: 11_000, dur: 20_000 },
    { type: 'stream', farm: 1, at: 5000, dur: 4000 },
    { type: 'stream', farm: 1, at: 26_000, dur: 20_000 },
  ],
};

interface Plant { readonly name: InvariantName; readonly plant: (h: HistoryRecord[]) => HistoryRecord[] }

const finalOf = (h: HistoryRecord[]): FinalRecord => h.find((r): r is FinalRecord => r.kind === 'final')!;
const replaceFinal = (h: HistoryRecord[], f: FinalRecord): HistoryRecord[] => h.map((r) => (r.kind === 'final' ? f : r));
const web0 = FARMS[0]!.backends[0]!;

/** One defect of each kind, planted in the quiet start of a run or in its final record. */
const PLANTS: readonly Plant[] = [
  { name: 'failure-unexplained', plant: (h) => [...h, { kind: 'conn', t: 2000, end: 2010, farm: 'web', ok: false, error: 'ECONNREFUSED' }] },
  {
    name: 'reached-down-backend', plant: (h) => [...h,
      { kind: 'fault', t: 1000, id: 9001, fault: 'backend-kill', target: web0, phase: 'start' }, { kind: 'fault', t: 8000, id: 9001, fault: 'backend-kill', target: web0, phase: 'end' },
      { kind: 'conn', t: 6000, end: 6010, farm: 'web', ok: true, backend: web0 }],
  },
  {
    name: 'reached-drained-backend', plant: (h) => [...h,
      { kind: 'op', t: 1000, node: 'lb1', action: 'drain', farm: 'web', backend: web0, ok: true }, { kind: 'op', t: 9000, node: 'lb2', action: 'enable', farm: 'web', backend: web0, ok: true },
      { kind: 'conn', t: 6000, end: 6010, farm: 'web', ok: true, backend: web0 }],
  },
  {
    name: 'stream-broken', plant: (h) => [...h,
      { kind: 'stream', t: 1000, id: 9002, farm: 'web', phase: 'open', backend: web0 }, { kind: 'stream', t: 2000, id: 9002, farm: 'web', phase: 'break', backend: web0, error: 'ECONNRESET' }],
  },
  {
    name: 'final-rules-differ', plant: (h) => {
      const f = finalOf(h);
      const last = f.nodes.at(-1)!;
      const web = last.kernel.web!;
      const moved = { ...web, [web0]: (web[web0] ?? 0) > 0.5 ? 0.2 : 0.9 };
      return replaceFinal(h, { ...f, nodes: [...f.nodes.slice(0, -1), { ...last, kernel: { ...last.kernel, web: moved } }] });
    },
  },
  { name: 'final-truth', plant: (h) => { const f = finalOf(h); return replaceFinal(h, { ...f, truth: { ...f.truth, web: { ...f.truth.web, [web0]: false } } }); } },
  {
    name: 'final-status-kernel', plant: (h) => {
      const f = finalOf(h);
      const [first, ...rest] = f.nodes;
      const st = first!.status.web![web0]!;
      const node = st.admin === 'enabled'
        ? { ...first!, status: { ...first!.status, web: { ...first!.status.web, [web0]: { ...st, state: 'down' as const } } } }
        : { ...first!, kernel: { ...first!.kernel, web: { ...first!.kernel.web, [web0]: 0.5 } } };
      return replaceFinal(h, { ...f, nodes: [node, ...rest] });
    },
  },
  {
    name: 'final-admin-lost', plant: (h) => {
      const f = finalOf(h);
      const admin = f.nodes[0]!.status.web![web0]!.admin;
      return [...h, { kind: 'op', t: f.t - 5000, node: 'lb2', action: admin === 'drain' ? 'maintenance' : 'drain', farm: 'web', backend: web0, ok: true }];
    },
  },
  { name: 'process-exit', plant: (h) => [...h, { kind: 'exit', t: 2000, node: 'lb1', process: 'agent', code: 1, signal: null }] },
  {
    name: 'exit-on-invalid-reload', plant: (h) => [...h,
      { kind: 'fault', t: 2000, id: 9003, fault: 'agent-sighup-invalid', target: 'lb2', phase: 'point' }, { kind: 'exit', t: 2100, node: 'lb2', process: 'agent', code: 1, signal: null }],
  },
  { name: 'log-fatal', plant: (h) => [...h, { kind: 'log', t: 2000, node: 'lb1', level: 'fatal', msg: 'cannot continue', line: '{"level":60}' }] },
  { name: 'cut-short', plant: (h) => h.filter((r) => r.kind !== 'end') },
  { name: 'final-missing', plant: (h) => h.filter((r) => r.kind !== 'final') },
];

const names = (h: HistoryRecord[]): InvariantName[] => checkHistory(h).violations.map((v) => v.invariant);

describe('soak checker on generated histories', () => {
  it('a clean history with every kind of fault has no violation, and its figures add up', () => {
    const h = buildHistory(EXAMPLE);
    const r = checkHistory(h);
    assert.deepEqual(r.violations, []);
    assert.equal(r.faults['backend-kill'], 2);
    assert.equal(r.faults['agent-sighup-invalid'], 1);
    assert.equal(r.connections.total, h.filter((x) => x.kind === 'conn').length);
    assert.ok(r.connections.failed > 0 && r.connections.unexplained === 0);
    assert.equal(r.connections.explained, r.connections.failed);
    assert.ok((r.connections.explainedBy['backend-kill'] ?? 0) >= 2, JSON.stringify(r.connections.explainedBy));
    assert.ok((r.connections.explainedBy['keepalived-kill'] ?? 0) >= 1, JSON.stringify(r.connections.explainedBy));
    // Both api backends down for a while: its connections fail and all-down explains them.
    assert.ok((r.connections.explainedBy['all-down'] ?? 0) >= 10, JSON.stringify(r.connections.explainedBy));
    assert.deepEqual({ opened: r.streams.opened, broken: r.streams.broken, unexplained: r.streams.brokenUnexplained }, { opened: 3, broken: 2, unexplained: 0 });
    // The ideal agents mark a backend down half a detection bound late; the peer takes the VIP half a failover bound late.
    assert.equal(r.worstDetection?.ms, 1500);
    assert.equal(r.worstFailover?.ms, 1500);
    assert.equal(r.operatorActions, 4);
    assert.equal(r.operatorRefused, 1);
    const text = formatReport(r);
    assert.match(text, /^faults: 9 \(/m);
    assert.match(text, /^violations: 0$/m);
  });

  for (const p of PLANTS) {
    it(`finds a planted ${p.name}`, () => {
      const found = names(p.plant(buildHistory(EXAMPLE)));
      assert.ok(found.includes(p.name), `expected ${p.name}, got ${found.join(', ') || 'nothing'}`);
      assert.match(formatReport(checkHistory(p.plant(buildHistory(EXAMPLE)))), new RegExp(`\\[${p.name}\\]`));
    });
  }

  it('property: a random clean history has no violation', () => {
    fc.assert(fc.property(scriptArb, (s) => {
      const v = checkHistory(buildHistory(s)).violations;
      assert.deepEqual(v, []);
    }), { seed: SEED, numRuns: 150 });
  });

  it('property: one planted defect in a random history is found under its name', () => {
    fc.assert(fc.property(scriptArb, fc.constantFrom(...PLANTS), (s, p) => {
      const found = names(p.plant(buildHistory(s)));
      assert.ok(found.includes(p.name), `expected ${p.name}, got ${found.join(', ') || 'nothing'}`);
    }), { seed: SEED, numRuns: 300 });
  });
});

describe('check.js', () => {
  const cli = fileURLToPath(new URL('./check.js', import.meta.url));
  const jsonl = (h: HistoryRecord[]) => h.map((r) => JSON.stringify(r)).join('\n') + '\n';

  it('prints the report; exits 0 when clean, 1 on a violation, 2 on a malformed history', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'soak-check-'));
    try {
      await writeFile(join(dir, 'clean.jsonl'), jsonl(buildHistory(EXAMPLE)));
      await writeFile(join(dir, 'bad.jsonl'), jsonl(PLANTS[0]!.plant(buildHistory(EXAMPLE))));
      await writeFile(join(dir, 'broken.jsonl'), '{"kind":"end","t":1}\n{"kind":"nope"}\n');
      const clean = spawnSync(process.execPath, [cli, join(dir, 'clean.jsonl')], { encoding: 'utf8' });
      assert.equal(clean.status, 0, clean.stderr);
      assert.match(clean.stdout, /^violations: 0$/m);
      const bad = spawnSync(process.execPath, [cli, join(dir, 'bad.jsonl')], { encoding: 'utf8' });
      assert.equal(bad.status, 1, bad.stderr);
      assert.match(bad.stdout, /\[failure-unexplained\] at 2000 ms/);
      const broken = spawnSync(process.execPath, [cli, join(dir, 'broken.jsonl')], { encoding: 'utf8' });
      assert.equal(broken.status, 2);
      assert.match(broken.stderr, /broken\.jsonl:2: kind:/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
