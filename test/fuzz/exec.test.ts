// Fuzzing what an exec check's program says: random stdout/stderr (invalid UTF-8 as Node decodes
// it, control characters, huge output, no newline, Nagios perfdata) and random exit codes through
// a fake runner, and random target values through token substitution. Property: a check result
// with a short one-line message, never an exception; substituted values stay one argument.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { execProbe, substituteTokens } from '../../checks/exec.js';
import type { CheckTarget } from '../../checks/types.js';
import { anyBytes, anyText, HEAP_BOUND, heapGrowth, params, runs, testTimeout } from './support.js';

/** Output as the runner hands it over: bytes decoded as UTF-8, so invalid sequences become U+FFFD. */
const output = fc.oneof(
  anyText(400),
  anyBytes(400).map((b) => b.toString('utf8')),
  fc.tuple(anyText(20), fc.nat(200_000)).map(([s, n]) => s.repeat(Math.min(n, 200_000 / Math.max(1, s.length)))),
  fc.tuple(anyText(60), anyText(60)).map(([a, b]) => `OK - ${a}|${b}\n`),
  fc.constant(''), fc.constant('\n\n\n'), fc.constant('|||'),
);

const LABEL = 'exec check_x';
/** label, "exit N: ", up to 200 characters and "...". */
const MAX_MESSAGE = LABEL.length + 2 + 'exit -2147483648: '.length + 203;

describe('fuzz: exec check output', () => {
  const RUNS = 3000;
  it(`any output and exit code gives a result with one short line (${runs(RUNS)} runs)`, { timeout: testTimeout(30_000, RUNS) }, async () => {
    const runner = new FakeRunner();
    const probe = execProbe(['/usr/lib/nagios/plugins/check_x', '-H', '{ip}'], runner);
    const target: CheckTarget = { farm: 'app', backend: 'app0', ip: '10.0.0.1', port: 80 };
    const growth = await heapGrowth(() => fc.assert(fc.asyncProperty(output, output, fc.oneof(fc.integer({ min: -2147483648, max: 2147483647 }), fc.constantFrom(0, 1, 2, 3, 255)),
      fc.boolean(), fc.option(anyText(100)), async (stdout, stderr, exitCode, timedOut, spawnError) => {
        runner.calls.length = 0;
        runner.setHandler(() => ({ stdout, stderr, exitCode, timedOut, ...(spawnError !== null ? { spawnError } : {}) }));
        const result = await probe(target, 1000);
        assert.equal(typeof result.ok, 'boolean');
        assert.equal(result.ok, spawnError === null && !timedOut && exitCode === 0);
        assert.ok(result.message.startsWith(LABEL), result.message);
        assert.ok(!result.message.includes('\n'), 'the message is one line');
        assert.ok(result.message.length <= MAX_MESSAGE, `message of ${result.message.length} characters`);
        assert.ok(Number.isFinite(result.latencyMs));
      }), params(RUNS, 2000)));
    assert.ok(growth < HEAP_BOUND, `heap grew ${growth} bytes`);
  });

  it(`substituteTokens: any target values stay in one argument, substituted once (${runs(RUNS * 3)} runs)`, { timeout: testTimeout(30_000, RUNS) }, () => {
    const value = fc.oneof(anyText(30), fc.constantFrom('{ip}', '{port}', '{farm}', '{backend}', '$(id)', '`id`', ';rm -rf /', '\n'));
    const TOKENS = ['{ip}', '{port}', '{farm}', '{backend}'] as const;
    const literal = anyText(10).map((t) => t.replace(/[{}]/g, ''));
    fc.assert(fc.property(fc.array(fc.oneof(literal, fc.constantFrom(...TOKENS)), { maxLength: 8 }),
      value, value, value, fc.integer({ min: 1, max: 65535 }), (parts, ip, farm, backend, port) => {
        const target: CheckTarget = { farm, backend, ip, port };
        // The model: each token replaced by its value, and nothing inside a value replaced again.
        const want = parts.map((p) => ((TOKENS as readonly string[]).includes(p) ? String(target[p.slice(1, -1) as keyof CheckTarget]) : p)).join('');
        assert.equal(substituteTokens(parts.join(''), target), want);
      }), params(RUNS * 3));
  });
});
