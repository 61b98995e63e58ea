// IptablesRestore against the real kernel in a namespace: what it writes reads back identically,
// other software's rules survive, a restart adopts without flushing, drift is found and repaired.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { desiredState as desired } from '../support/config.js';
import { IptablesRestore } from '../../agent/apply/iptables.js';
import type { DesiredState } from '../../agent/plan/plan.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';
import { GOLDEN_CASES, seedYaml } from '../render/cases.js';

const twoFarms = `node: { id: lb1 }
farms:
  - name: one
    vip: 10.1.0.100
    ports: [80]
    backends: [{ name: a, ip: 10.2.0.11, port: 80 }, { name: b, ip: 10.2.0.12, port: 80 }]
  - name: two
    vip: 10.1.0.101
    ports: [443]
    mode: snat
    backends: [{ name: c, ip: 10.2.0.13, port: 443 }]
`;
const noFarms = 'node: { id: lb1 }\nfarms: []\n';

describe('IptablesRestore in a real namespace', needsRoot(), () => {
  const ns = `haipt${process.pid}`;
  const sh = (cmd: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8' });
  const save = () => sh('iptables-save');
  before(() => execFileSync('ip', ['netns', 'add', ns]));
  after(() => execFileSync('ip', ['netns', 'del', ns]));

  it('every golden ruleset reads back from iptables-save exactly as applied', async () => {
    for (const c of GOLDEN_CASES) {
      const netfilter = new IptablesRestore(new NsRunner(ns));
      await netfilter.adopt();
      await netfilter.sync(desired(c.yaml, c.down));
      const drift = await netfilter.verify();
      assert.deepEqual(drift.differences, [], c.name);
      await netfilter.removeAll();
    }
    assert.doesNotMatch(save(), /HAGENT|HAM-|HAD-/);
  });

  it("other software's rules and chains survive apply, re-apply, removal of all farms, and uninstall", async () => {
    sh('iptables', '-t', 'nat', '-N', 'DOCKER');
    sh('iptables', '-t', 'nat', '-A', 'DOCKER', '-p', 'tcp', '--dport', '8888', '-j', 'DNAT', '--to-destination', '172.17.0.2:80');
    sh('iptables', '-t', 'nat', '-A', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER');
    sh('iptables', '-t', 'mangle', '-A', 'PREROUTING', '-p', 'udp', '--dport', '5353', '-j', 'MARK', '--set-mark', '0x10000');
    sh('iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT');
    const foreign = () => save().split('\n').filter((l) => l.startsWith('-A') && !/HAGENT|HA[MDSR]-/.test(l)).sort();
    const before = foreign();
    assert.equal(before.length, 4);
    const netfilter = new IptablesRestore(new NsRunner(ns));
    await netfilter.adopt();
    await netfilter.sync(desired(twoFarms));
    assert.deepEqual(foreign(), before);
    await netfilter.sync(desired(twoFarms, ['one/a']));
    await netfilter.sync(desired(twoFarms));
    assert.deepEqual(foreign(), before);
    await netfilter.sync(desired(noFarms));
    assert.deepEqual(foreign(), before);
    assert.doesNotMatch(save(), /HAM-|HAD-|HAS-|HAR-/, 'farm chains are gone');
    await netfilter.removeAll();
    assert.deepEqual(foreign(), before);
    assert.doesNotMatch(save(), /HAGENT/);
  });

  it('a restarted applier adopts the rules without flushing them: counters keep counting', async () => {
    const first = new IptablesRestore(new NsRunner(ns));
    await first.adopt();
    await first.sync(desired(twoFarms));
    // Give the farms' rules non-zero counters; a rewritten chain would start again from 0.
    for (const chain of ['HAM-one', 'HAM-two']) {
      const rule = save().split('\n').find((l) => l.startsWith(`-A ${chain} `))!;
      sh('iptables', '-t', 'mangle', '-R', chain, '1', '-c', '7', '700', ...rule.split(' ').slice(2));
    }
    assert.match(sh('iptables-save', '-c', '-t', 'mangle'), /\[7:700\] -A HAM-one/);
    const countersBefore = sh('iptables-save', '-c', '-t', 'mangle');
    const second = new IptablesRestore(new NsRunner(ns));
    await second.adopt();
    const result = await second.sync(desired(twoFarms));
    assert.equal(result.changed, false, `restart rewrote ${result.rewritten.join(', ')}`);
    assert.equal(sh('iptables-save', '-c', '-t', 'mangle').replace(/^#.*\n/gm, ''), countersBefore.replace(/^#.*\n/gm, ''));
    // A change to one farm rewrites that farm's chain only.
    const change = await second.sync(desired(twoFarms, ['one/b']), new Set(['one']));
    assert.deepEqual(change.rewritten, ['mangle/HAM-one']);
    assert.match(sh('iptables-save', '-c', '-t', 'mangle'), /\[7:700\] -A HAM-two/, "the other farm's counters are untouched");
    await second.removeAll();
  });

  it('drift: a chain flushed by hand is reported and repaired', async () => {
    const netfilter = new IptablesRestore(new NsRunner(ns));
    await netfilter.adopt();
    const state = desired(seedYaml('dnat'));
    await netfilter.sync(state);
    assert.equal((await netfilter.verify()).inSync, true);
    sh('iptables', '-t', 'mangle', '-F', 'HAM-app');
    sh('iptables', '-t', 'nat', '-D', 'PREROUTING', '-j', 'HAGENT-DNAT');
    const drift = await netfilter.verify();
    assert.equal(drift.inSync, false);
    assert.ok(drift.differences.some((d) => d.includes('mangle/HAM-app')), drift.differences.join('; '));
    assert.ok(drift.differences.some((d) => d.includes('HAGENT-DNAT')), drift.differences.join('; '));
    await netfilter.repair(state);
    assert.deepEqual((await netfilter.verify()).differences, []);
    await netfilter.removeAll();
  });

  it('a failing transaction leaves the kernel as it was, and the next sync still works', async () => {
    const netfilter = new IptablesRestore(new NsRunner(ns), { restoreCommand: 'iptables-restore' });
    await netfilter.adopt();
    await netfilter.sync(desired(seedYaml('dnat')));
    const before = save();
    const broken = desired(seedYaml('dnat'));
    // A protocol the kernel rejects cannot come from a validated config; forge one to force a failure.
    const forged = { ...broken, farms: broken.farms.map((f) => ({ ...f, protocol: 'nosuchproto' })) };
    await assert.rejects(netfilter.sync(forged as DesiredState), /iptables-restore/);
    assert.equal(save().replace(/^#.*\n/gm, ''), before.replace(/^#.*\n/gm, ''));
    await netfilter.sync(desired(seedYaml('dnat'), ['app/app0']));
    assert.deepEqual((await netfilter.verify()).differences, []);
    await netfilter.removeAll();
  });
});
