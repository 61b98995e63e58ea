// The VIP sets over ipset restore: created and grown before the rules, shrunk after; adopted
// from ipset save (only the agent's sets, of its family); nothing run when nothing changes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IpsetCli, parseIpsetSave } from '../../agent/apply/ipset.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import type { IpSet } from '../../agent/render/ruleset.js';

const set = (name: string, members: string[]): [string, IpSet] => [name, { name, type: 'hash:ip', family: 'inet', members }];

test('ipset save: only the agent\'s sets of the family, with their members', () => {
  const saved = [
    'create ha-agent-vips hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1',
    'add ha-agent-vips 10.1.0.100',
    'create ha-agent6-vips hash:ip family inet6 hashsize 1024 maxelem 65536',
    'add ha-agent6-vips fd00::1',
    'create docker-ips hash:ip family inet',
    'add docker-ips 172.17.0.2',
    'create ha-agent-other hash:ip family inet',
    'create ha-agent-b7 hash:ip family inet',
  ].join('\n');
  assert.deepEqual(parseIpsetSave(saved, 'ha-agent-'), new Map([['ha-agent-vips', new Set(['10.1.0.100'])]]));
});

test('grow adds what is missing, shrink removes what is no longer wanted; unchanged runs nothing', async () => {
  const runner = new FakeRunner((call) => (call.args[0] === 'save' ? { stdout: 'create ha-agent-vips hash:ip family inet\nadd ha-agent-vips 10.1.0.1\nadd ha-agent-vips 10.1.0.2\n' } : undefined));
  const sets = new IpsetCli(runner, 'inet');
  await sets.adopt();
  const want = new Map([set('ha-agent-vips', ['10.1.0.2', '10.1.0.3'])]);
  await sets.grow(want);
  assert.equal(runner.calls.at(-1)!.input, 'add ha-agent-vips 10.1.0.3 -exist\n');
  await sets.shrink(want);
  assert.equal(runner.calls.at(-1)!.input, 'del ha-agent-vips 10.1.0.1 -exist\n');
  const calls = runner.calls.length;
  await sets.grow(want);
  await sets.shrink(want);
  assert.equal(runner.calls.length, calls);
  // The last farm gone: the set goes, after the rules that named it.
  await sets.shrink(new Map());
  assert.equal(runner.calls.at(-1)!.input, 'destroy ha-agent-vips\n');
});

test('a failed ipset restore is an ApplyError carrying its input', async () => {
  const runner = new FakeRunner((call) => (call.args[0] === 'restore' ? { exitCode: 1, stderr: 'ipset v7.17: Error in line 1' } : undefined));
  const sets = new IpsetCli(runner, 'inet');
  await assert.rejects(sets.grow(new Map([set('ha-agent-vips', ['10.1.0.1'])])), (err: Error & { transaction?: string }) =>
    /ipset restore failed/.test(err.message) && err.transaction === 'create ha-agent-vips hash:ip family inet -exist\nadd ha-agent-vips 10.1.0.1 -exist\n');
});
