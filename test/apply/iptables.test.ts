// IptablesRestore with a fake runner: one restore per change, none when unchanged, the kernel
// is never listed to apply, and a failed apply is retried once from a fresh read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IptablesRestore } from '../../agent/apply/iptables.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { parseConfigText } from '../../config/load.js';
import { parseDownList, staticPlan } from '../../agent/plan/static.js';
import { seedYaml } from '../render/cases.js';

function state(down: string[] = []) {
  const r = parseConfigText(seedYaml('dnat'));
  if (!r.ok) throw new Error('fixture');
  return staticPlan(r.config, parseDownList(r.config, down).keys);
}

test('one iptables-restore per change, nothing when unchanged, no listing on the apply path', async () => {
  const runner = new FakeRunner();
  const netfilter = new IptablesRestore(runner);
  await netfilter.adopt();
  assert.deepEqual(runner.calls.map((c) => c.command), ['iptables-save']);
  const first = await netfilter.sync(state());
  assert.ok(first.changed);
  assert.deepEqual(runner.calls.at(-1)!.args, ['--noflush', '-w', '5']);
  assert.equal((await netfilter.sync(state())).changed, false);
  await netfilter.sync(state(['app/app1']), new Set(['app']));
  assert.deepEqual(runner.calls.map((c) => c.command), ['iptables-save', 'iptables-restore', 'iptables-restore']);
  assert.equal(runner.calls.at(-1)!.input, [
    '*mangle', ':HAM-app - [0:0]',
    '-A HAM-app -d 192.168.101.250/32 -p tcp -m multiport --dports 443 -m statistic --mode random --probability 1.00000000000 -m comment --comment FARM_app_0_ -j MARK --set-xmark 0x20c/0x3fff',
    'COMMIT', ''].join('\n'));
});

test('a failed restore re-reads the kernel, retries once, then reports the error and keeps state', async () => {
  let fail = 2;
  const runner = new FakeRunner((call) => (call.command === 'iptables-restore' && fail-- > 0 ? { exitCode: 2, stderr: 'iptables-restore: line 3 failed' } : undefined));
  const netfilter = new IptablesRestore(runner);
  await netfilter.adopt();
  await assert.rejects(netfilter.sync(state()), /iptables-restore exited 2: iptables-restore: line 3 failed/);
  assert.deepEqual(runner.calls.map((c) => c.command), ['iptables-save', 'iptables-restore', 'iptables-save', 'iptables-restore']);
  const ok = await netfilter.sync(state());
  assert.ok(ok.changed);
});
