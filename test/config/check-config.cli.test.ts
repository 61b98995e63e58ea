// `ha-agent check-config FILE` end to end: exit codes, every error on stderr as `path: message`, no stack traces.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { BAD_CASES } from './cases/bad.js';

const CLI = fileURLToPath(new URL('../../agent/cli/ha-agent.js', import.meta.url));
const FULL = fileURLToPath(new URL('../../../test/fixtures/config/full.yaml', import.meta.url));
const STACK_FRAME = /^\s+at /m;

let dir = '';
// full.yaml's dns farm runs check_dns, which monitoring-plugins-standard installs: a stand-in on PATH.
const run = (...args: string[]) =>
  execa(process.execPath, [CLI, ...args], { reject: false, timeout: 20_000, env: { PATH: `${join(dir, 'bin')}:${process.env.PATH}` } });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ha-agent-check-config-'));
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin', 'check_dns'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

const PICKED = [
  'backend ip not IPv4 (the SPEC example)',
  'typo wieght in a backend',
  'two farms with overlapping port ranges',
  'duration without a unit',
  'YAML: duplicate key',
  'a list as the document',
  'three independent errors',
  'backend at the VIP of another farm',
];

for (const name of PICKED) {
  const c = BAD_CASES.find((x) => x.name === name);
  test(`check-config rejects: ${name}`, async () => {
    assert.ok(c, `no bad case named ${name}`);
    const file = join(dir, `${PICKED.indexOf(name)}.yaml`);
    await writeFile(file, c.yaml);
    const { exitCode, stdout, stderr } = await run('check-config', file);
    assert.equal(exitCode, 2, stderr);
    assert.equal(stdout, '');
    assert.deepEqual(stderr.trimEnd().split('\n'), c.errors);
    assert.doesNotMatch(stderr, STACK_FRAME);
  });
}

test('check-config prints every error: three independent errors give three lines', async () => {
  const c = BAD_CASES.find((x) => x.name === 'three independent errors')!;
  const file = join(dir, 'three.yaml');
  await writeFile(file, c.yaml);
  const { exitCode, stderr } = await run('check-config', file);
  assert.equal(exitCode, 2);
  assert.equal(stderr.trimEnd().split('\n').length, 3);
});

test('check-config accepts a valid config: exit 0 and a one-line summary', async () => {
  const { exitCode, stdout, stderr } = await run('check-config', FULL);
  assert.equal(exitCode, 0, stderr);
  assert.equal(stdout, `${FULL}: ok (node lb1, 3 farms, 7 backends, driver iptables, vrrp 51, clustered)`); // execa strips the final newline
});

test('check-config --config FILE works like the argument', async () => {
  const { exitCode } = await run('check-config', '--config', FULL);
  assert.equal(exitCode, 0);
});

test('check-config on a missing file: exit 2 and a clear message', async () => {
  const missing = join(dir, 'nope.yaml');
  const { exitCode, stderr } = await run('check-config', missing);
  assert.equal(exitCode, 2);
  assert.equal(stderr, `${missing}: cannot read the config: no such file`);
  assert.doesNotMatch(stderr, STACK_FRAME);
});

test('check-config --help exits 0', async () => {
  const { exitCode, stdout } = await run('check-config', '--help');
  assert.equal(exitCode, 0);
  assert.match(stdout, /Usage: ha-agent check-config/);
});
