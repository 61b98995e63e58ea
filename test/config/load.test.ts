// The config table (MetalLB style): bad configs with their exact `path: message` lines, good ones with their values.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIssues, loadConfigFile, parseConfigText, validateConfig } from '../../config/load.js';
import { BAD_CASES } from './cases/bad.js';
import { GOOD_CASES } from './cases/good.js';
import { config, farm } from './cases/yaml.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/config/${name}`, import.meta.url));

test('the bad-config table has at least 40 cases with unique names', () => {
  assert.ok(BAD_CASES.length >= 40, `${BAD_CASES.length} cases`);
  assert.equal(new Set(BAD_CASES.map((c) => c.name)).size, BAD_CASES.length);
});

for (const c of BAD_CASES) {
  test(`rejects: ${c.name}`, () => {
    const result = parseConfigText(c.yaml);
    assert.equal(result.ok, false, 'must fail');
    if (result.ok) return;
    assert.deepEqual(formatIssues(result.issues).split('\n'), c.errors, c.yaml);
  });
}

for (const c of GOOD_CASES) {
  test(`accepts: ${c.name}`, () => {
    const result = parseConfigText(c.yaml);
    assert.ok(result.ok, result.ok ? '' : formatIssues(result.issues));
    assert.deepEqual(c.get(result.config), c.want);
  });
}

test('the parsed config is frozen all the way down', () => {
  const result = parseConfigText(config([farm()]));
  assert.ok(result.ok);
  const { config: cfg } = result;
  assert.throws(() => { (cfg as { node: unknown }).node = {}; }, TypeError);
  assert.throws(() => { (cfg.farms[0] as { vip: string }).vip = '10.9.9.9'; }, TypeError);
  assert.throws(() => { (cfg.farms[0]!.backends as unknown[]).push({}); }, TypeError);
  assert.throws(() => { (cfg.farms[0]!.ports[0] as { from: number }).from = 1; }, TypeError);
});

test('validateConfig takes already-parsed data (e.g. from Redis)', () => {
  assert.deepEqual(validateConfig(null), { ok: false, issues: [{ path: '(root)', message: 'the config is empty; expected a mapping with node and farms' }] });
  assert.deepEqual(validateConfig([1]), { ok: false, issues: [{ path: '(root)', message: 'expected a mapping with node and farms, got a list' }] });
  const ok = validateConfig({ node: { id: 'lb1' }, farms: [{ name: 'f', vip: '10.0.0.1', ports: [80], backends: [{ name: 'b', ip: '10.0.0.2', port: 80 }] }] });
  assert.ok(ok.ok);
});

test('a YAML alias bomb is refused, not expanded', () => {
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 8; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
  const result = parseConfigText(levels.join('\n'));
  assert.equal(result.ok, false);
  if (!result.ok) assert.match(formatIssues(result.issues), /^\(root\): cannot expand the YAML: /);
});

test('loadConfigFile: a full example loads', async () => {
  // Its dns farm runs check_dns, which monitoring-plugins-standard installs: a stand-in here.
  const plugins = await mkdtemp(join(tmpdir(), 'ha-agent-plugins-'));
  await writeFile(join(plugins, 'check_dns'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const result = await loadConfigFile(fixture('full.yaml'), { pluginDirs: [plugins] }).finally(() => rm(plugins, { recursive: true }));
  assert.ok(result.ok, result.ok ? '' : formatIssues(result.issues));
  assert.deepEqual(result.config.farms.map((f) => f.name), ['app', 'web', 'dns']);
  assert.equal(result.config.vrrp?.advert_int, 1000);
});

test('loadConfigFile names an exec check program found nowhere: check-config and run both load through it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ha-agent-load-'));
  try {
    const file = join(dir, 'config.yaml');
    await writeFile(file, config([farm({ check: '{ type: exec, command: [check_nothing_here, -H, "{ip}"] }' })]));
    const result = await loadConfigFile(file);
    assert.equal(result.ok, false, 'must fail');
    if (!result.ok) assert.equal(formatIssues(result.issues), 'farms[0].check.command[0]: "check_nothing_here" is not on PATH nor in /usr/lib/nagios/plugins');
  } finally {
    await rm(dir, { recursive: true });
  }
});

test('loadConfigFile: a missing file is one clear issue', async () => {
  const result = await loadConfigFile('/nonexistent/ha-agent.yaml');
  assert.deepEqual(result, { ok: false, issues: [{ path: '/nonexistent/ha-agent.yaml', message: 'cannot read the config: no such file' }] });
});
