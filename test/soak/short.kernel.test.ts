// The short chaos soak CI runs: the full pair lab with Redis under traffic, a fixed seed for two
// minutes (SOAK_MINUTES overrides it for local tries), and the checker must find no violation.
// It also proves the faults bit: most kinds were injected, and some connections failed.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { needsRoot } from '../support/root.js';
import { readHistory } from './read.js';
import { checkHistory, formatReport } from './checker.js';
import { PAIR_FAULTS } from './schedule.js';

const SEED = 20_240_514;
const MINUTES = Number(process.env.SOAK_MINUTES ?? 2);
/** Kinds of fault that must have been injected, of the 13 a pair can take. */
const MIN_KINDS = 10;

describe('chaos soak (short, fixed seed)', needsRoot(), () => {
  it(`${MINUTES} min of seeded faults under traffic: 0 violations, most fault kinds injected, failures seen and explained`, { timeout: (MINUTES * 60 + 240) * 1000 }, async (t) => {
    const out = join(tmpdir(), `ha-soak-ci-${process.pid}.jsonl`);
    const run = await execa(process.execPath, [fileURLToPath(new URL('./run.js', import.meta.url)), '--minutes', String(MINUTES), '--seed', String(SEED), '--out', out], { reject: false, all: true });
    t.diagnostic(run.all ?? '');
    const report = checkHistory(await readHistory(out));
    assert.equal(report.violations.length, 0, formatReport(report));
    assert.equal(run.exitCode, 0, `the soak exited ${String(run.exitCode)}`);

    const kinds = Object.keys(report.faults);
    assert.ok(kinds.every((k) => (PAIR_FAULTS as readonly string[]).includes(k)), `unexpected kinds: ${kinds.join(', ')}`);
    assert.ok(kinds.length >= MIN_KINDS, `only ${kinds.length} kinds injected: ${kinds.join(', ')}`);
    const total = Object.values(report.faults).reduce((a, b) => a + b, 0);
    assert.ok(total >= (MINUTES * 60) / 3, `${total} faults in ${MINUTES} min`);
    assert.ok(report.connections.ok > 0 && report.connections.failed > 0, `connections: ${JSON.stringify(report.connections)}`);
    assert.ok(report.streams.opened >= 20, `streams: ${JSON.stringify(report.streams)}`);
  });
});
