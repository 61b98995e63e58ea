// The short chaos soak of the active-active topology CI runs: three LBs behind the router's ECMP
// (BGP, BFD) with one dsr farm on hash-5tuple and Redis, under traffic, a fixed seed for two
// minutes (SOAK_MINUTES overrides it for local tries); the checker must find no violation. It also
// proves the faults bit: an LB was made silent, most kinds were injected, connections failed.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needsProgram, needsRoot } from '../support/root.js';
import { readHistory } from './read.js';
import { checkHistory, formatReport } from './checker.js';
import { AA_FAULTS } from './schedule.js';

const SEED = 20_240_611;
const MINUTES = Number(process.env.SOAK_MINUTES ?? 2);
/** Kinds of fault that must have been injected, of the 13 an active-active lab can take. */
const MIN_KINDS = 10;

describe('chaos soak, active-active (short, fixed seed)', { ...needsRoot(), ...needsProgram('bird') }, () => {
  it(`${MINUTES} min of seeded faults under traffic on three LBs behind ECMP: 0 violations, an LB made silent, failures seen and explained`, { timeout: (MINUTES * 60 + 240) * 1000 }, async (t) => {
    const out = join(tmpdir(), `ha-soak-aa-ci-${process.pid}.jsonl`);
    const run = await execa(process.execPath, [fileURLToPath(new URL('./run.js', import.meta.url)),
      '--topology', 'active-active', '--minutes', String(MINUTES), '--seed', String(SEED), '--out', out], { reject: false, all: true });
    t.diagnostic(run.all ?? '');
    const report = checkHistory(await readHistory(out));
    assert.equal(report.violations.length, 0, formatReport(report));
    assert.equal(run.exitCode, 0, `the soak exited ${String(run.exitCode)}`);
    assert.equal(report.mode, 'dsr');

    const kinds = Object.keys(report.faults);
    assert.ok(kinds.every((k) => (AA_FAULTS as readonly string[]).includes(k)), `unexpected kinds: ${kinds.join(', ')}`);
    assert.ok((report.faults['lb-silent'] ?? 0) > 0, `no LB was made silent: ${kinds.join(', ')}`);
    assert.ok(kinds.length >= MIN_KINDS, `only ${kinds.length} kinds injected: ${kinds.join(', ')}`);
    const total = Object.values(report.faults).reduce((a, b) => a + b, 0);
    assert.ok(total >= (MINUTES * 60) / 3, `${total} faults in ${MINUTES} min`);
    assert.ok(report.connections.ok > 0 && report.connections.failed > 0, `connections: ${JSON.stringify(report.connections)}`);
    assert.equal(report.connections.unexplained, 0);
    assert.ok(report.streams.opened >= 20, `streams: ${JSON.stringify(report.streams)}`);
    assert.ok(report.worstFailover !== null, 'the router never took a faulty LB out of its route');
  });
});
