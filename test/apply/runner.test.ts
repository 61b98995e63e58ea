// The one runner: argument arrays (never a shell), results instead of exceptions, and a timeout
// that kills the program's whole process group.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecaRunner, describeFailure } from '../../agent/apply/runner.js';

const runner = new ExecaRunner();

test('arguments are passed literally, never through a shell', async () => {
  const r = await runner.run('printf', ['%s|', '$(id)', '; rm -rf /', '`x`']);
  assert.equal(r.stdout, '$(id)|; rm -rf /|`x`|');
});

test('stdin input, exit codes and a program that cannot start are results, not exceptions', async () => {
  assert.equal((await runner.run('cat', [], { input: 'rules\n' })).stdout, 'rules\n');
  const failed = await runner.run('sh', ['-c', 'echo bad >&2; exit 3']);
  assert.equal(failed.exitCode, 3);
  assert.equal(describeFailure(failed), 'sh exited 3: bad');
  const missing = await runner.run('/nonexistent/program', []);
  assert.ok(missing.spawnError);
  assert.match(describeFailure(missing), /ENOENT/);
});

test('a timeout kills the program and the children holding its output open', async () => {
  const started = performance.now();
  const r = await runner.run('sh', ['-c', 'echo started; sleep 30'], { timeoutMs: 200 });
  assert.equal(r.timedOut, true);
  assert.equal(r.stdout, 'started\n');
  assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
  assert.match(describeFailure(r), /timed out/);
});

test('aborting kills the program at once', async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const started = performance.now();
  await runner.run('sleep', ['30'], { signal: controller.signal });
  assert.ok(performance.now() - started < 2000);
});
