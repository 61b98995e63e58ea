// IptablesRestore with a fake runner: one restore per change, none when unchanged, the kernel
// is never listed to apply, and a failed apply is retried once from a fresh read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IptablesRestore } from '../../agent/apply/iptables.js';
import { formatRestore, renderRuleset } from '../../agent/render/iptables.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { desiredState } from '../support/config.js';
import { seedYaml } from '../render/cases.js';

const state = (down: string[] = []) => desiredState(seedYaml('dnat'), down);

test('one iptables-restore per change, nothing when unchanged, no listing on the apply path', async () => {
  const runner = new FakeRunner();
  const netfilter = new IptablesRestore(runner);
  await netfilter.adopt();
  assert.deepEqual(runner.calls.map((c) => c.command), ['iptables-save', 'ipset']);
  const first = await netfilter.sync(state());
  assert.ok(first.changed);
  // The VIP sets go in before the rules that name them.
  assert.deepEqual(runner.calls.slice(-2).map((c) => [c.command, c.args[0]]), [['ipset', 'restore'], ['iptables-restore', '--noflush']]);
  assert.equal(runner.calls.at(-2)!.input, [
    'create ha-agent-vips hash:ip family inet -exist', 'add ha-agent-vips 192.168.101.250 -exist', ''].join('\n'));
  assert.equal((await netfilter.sync(state())).changed, false);
  await netfilter.sync(state(['app/app1']), new Set(['app']));
  // The sets did not change: no ipset command.
  assert.deepEqual(runner.calls.map((c) => c.command), ['iptables-save', 'ipset', 'ipset', 'iptables-restore', 'iptables-restore']);
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
  assert.deepEqual(runner.calls.map((c) => c.command), ['iptables-save', 'ipset', 'ipset', 'iptables-restore', 'iptables-save', 'iptables-restore']);
  const ok = await netfilter.sync(state());
  assert.ok(ok.changed);
});

test('a farm added and another removed in one sync are both applied, though `changed` names neither', async () => {
  const farm = (name: string, vip: string) => `  - name: ${name}\n    vip: ${vip}\n    ports: [80]\n    backends: [{ name: a, ip: 10.2.0.11, port: 80 }]\n`;
  const farms = (...names: string[]) => desiredState(`node: { id: lb1 }\nfarms:\n${names.map((n, i) => farm(n, `10.1.0.${i + 1}`)).join('')}`);
  const runner = new FakeRunner();
  const netfilter = new IptablesRestore(runner);
  await netfilter.adopt();
  await netfilter.sync(farms('one', 'two'));
  const next = farms('one', 'three');
  await netfilter.sync(next, new Set());
  const sorted = (text: string) => text.split('\n').sort();
  assert.deepEqual(sorted(netfilter.appliedText()), sorted(formatRestore(renderRuleset(next))));
});
