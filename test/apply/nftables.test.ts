// NftCli with a fake runner (one `nft -f -` per change, none when unchanged, a refused apply keeps
// state) and in a real namespace (own table only, adopt, counters kept, drift found and repaired,
// changes through the long-lived `nft -i`).

import { test, describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { desiredState as desired } from '../support/config.js';
import type { DesiredState } from '../../agent/plan/plan.js';
import { NftCli } from '../../agent/apply/nftables.js';
import { renderNft } from '../../agent/render/nftables.js';
import { NftSession } from '../../agent/apply/nft-session.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { ApplyError } from '../../agent/apply/netfilter.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';
import { seedYaml } from '../render/cases.js';
import { repoPath } from '../support/repo.js';

const twoFarms = `node: { id: lb1 }
farms:
  - name: one
    vip: 10.1.0.100
    ports: [80]
    backends: [{ name: a, ip: 10.2.0.11, port: 80, mark: 0x301 }, { name: b, ip: 10.2.0.12, port: 80, mark: 0x302 }]
  - name: two
    vip: 10.1.0.101
    ports: [5353]
    protocol: udp
    mode: snat
    check: { type: none }
    persistence: { type: srcip, ttl: 30s }
    backends: [{ name: c, ip: 10.2.0.13, port: 53, mark: 0x303 }]
`;

const noFarms = (): DesiredState => ({ markMask: 0x3fff, farms: [] });
const absent = { exitCode: 1, stderr: 'Error: No such file or directory\nlist table ip ha_agent\n' };
const isApply = (args: readonly string[]) => args.join(' ') === '-f -';

test('one nft -f - per change, nothing when unchanged, only the changed farm after that', async () => {
  const runner = new FakeRunner((call) => (call.args.includes('list') ? absent : undefined));
  const nft = new NftCli(runner);
  await nft.adopt();
  assert.deepEqual(runner.calls.map((c) => c.args.join(' ')), ['-j -s list table ip ha_agent']);
  assert.equal((await nft.sync(desired(twoFarms))).changed, true);
  assert.ok(isApply(runner.calls.at(-1)!.args));
  assert.match(runner.calls.at(-1)!.input!, /^add table ip ha_agent\ndelete table ip ha_agent\ntable ip ha_agent \{$/m);
  assert.equal((await nft.sync(desired(twoFarms))).changed, false);
  const update = await nft.sync(desired(twoFarms, ['one/a']), new Set(['one']));
  assert.deepEqual(update.rewritten, ['farm_one']);
  assert.deepEqual(runner.calls.map((c) => c.args.join(' ')), ['-j -s list table ip ha_agent', '-f -', '-f -'], 'the apply path never lists');
  assert.match(runner.calls.at(-1)!.input!, /^add table ip ha_agent\nflush chain ip ha_agent farm_one\nadd rule ip ha_agent farm_one counter /);
  assert.doesNotMatch(runner.calls.at(-1)!.input!, /_two/);
  assert.match(nft.appliedText(), /^delete table ip ha_agent$/m);
});

test('a repair of the objects an event named rewrites them from what was applied, without listing the table', async () => {
  const runner = new FakeRunner((call) => (call.args.includes('list') ? absent : undefined));
  const nft = new NftCli(runner);
  await nft.adopt();
  await nft.sync(desired(twoFarms));
  const calls = runner.calls.length;
  const result = await nft.repair(desired(twoFarms), [
    { family: 'ip', kind: 'chain', name: 'farm_one', deleted: false },
    { family: 'ip', kind: 'chain', name: 'foreign', deleted: false },
    { family: 'ip6', kind: 'chain', name: 'farm_two', deleted: false },
  ]);
  assert.deepEqual(runner.calls.slice(calls).map((c) => c.args.join(' ')), ['-f -'], 'one apply, no listing');
  const text = runner.calls.at(-1)!.input!;
  assert.match(text, /^flush chain ip ha_agent farm_one\nflush chain ip ha_agent foreign\nadd rule ip ha_agent farm_one counter /m);
  assert.match(text, /^delete chain ip ha_agent foreign$/m, 'a chain someone added to the table goes');
  assert.doesNotMatch(text, /_two/, 'an object of the other family is not this table`s');
  assert.deepEqual(result.rewritten, ['farm_one']);
  assert.equal((await nft.repair(desired(twoFarms), [{ family: 'ip6', kind: 'chain', name: 'farm_one', deleted: false }])).changed, false);
  assert.equal(runner.calls.length, calls + 1);
});

test('a farm added and another removed in one sync change only those two, though `changed` names neither', async () => {
  const runner = new FakeRunner((call) => (call.args.includes('list') ? absent : undefined));
  const nft = new NftCli(runner);
  await nft.adopt();
  await nft.sync(desired(twoFarms));
  const next = desired(twoFarms.replace(/name: two/, 'name: three'));
  const result = await nft.sync(next, new Set());
  assert.ok(result.rewritten.includes('farm_three') && result.deleted.includes('farm_two'), JSON.stringify(result));
  assert.ok(!result.rewritten.includes('farm_one'));
  assert.equal(nft.appliedText(), renderNft(next));
});

test('a refused apply leaves the applied state as it was and re-reads the kernel next time', async () => {
  let refuse = true;
  const runner = new FakeRunner((call) => {
    if (call.args.includes('list')) return absent;
    return refuse && isApply(call.args) && call.input?.includes('farm_two') ? { exitCode: 1, stderr: '/dev/stdin:7:1-20: Error: Could not process rule: Invalid argument' } : undefined;
  });
  const nft = new NftCli(runner);
  await nft.adopt();
  await nft.sync(desired(seedYaml('dnat')));
  const before = nft.appliedText();
  const error = await nft.sync(desired(twoFarms)).then(() => null, (e: unknown) => e);
  assert.ok(error instanceof ApplyError, String(error));
  assert.match(error.message, /nft exited 1: .*Invalid argument/);
  assert.match(error.transaction ?? '', /farm_two/);
  assert.equal(nft.appliedText(), before);
  refuse = false;
  runner.calls.length = 0;
  await nft.sync(desired(twoFarms));
  assert.deepEqual(runner.calls.map((c) => c.args.join(' ')), ['-j -s list table ip ha_agent', '-f -']);
});

test('adopting the listing of an applied table changes nothing; a flushed chain is all it rewrites', async () => {
  // Real `nft -j -s list table ip ha_agent` output after `nft -f test/golden/nftables/seed-dnat.nft` in a
  // fresh namespace; regenerate it the same way when that golden changes.
  const listing = readFileSync(repoPath('test/golden/nftables/seed-dnat.list.json'), 'utf8');
  const adoptWith = async (json: string) => {
    const runner = new FakeRunner((call) => (call.args.includes('list') ? { stdout: call.args.includes('-j') ? json : 'table ip ha_agent {}\n' } : undefined));
    const nft = new NftCli(runner);
    await nft.adopt();
    return { nft, runner };
  };
  const kept = await adoptWith(listing);
  assert.equal((await kept.nft.sync(desired(seedYaml('dnat')))).changed, false);
  assert.ok(!kept.runner.calls.some((c) => isApply(c.args)));

  const parsed = JSON.parse(listing) as { nftables: { rule?: { chain: string } }[] };
  parsed.nftables = parsed.nftables.filter((item) => item.rule?.chain !== 'farm_app');
  const flushed = await adoptWith(JSON.stringify(parsed));
  const result = await flushed.nft.sync(desired(seedYaml('dnat')));
  assert.deepEqual(result.rewritten, ['farm_app']);
  assert.match(flushed.runner.calls.at(-1)!.input!, /^add table ip ha_agent\nflush chain ip ha_agent farm_app\nadd rule /);
});

test('removeAll deletes only the agent table, and works when it is already gone', async () => {
  const runner = new FakeRunner();
  await new NftCli(runner).removeAll();
  assert.equal(runner.calls[0]!.input, 'add table ip ha_agent\ndelete table ip ha_agent\n');
});

test('only text that stays one transaction when joined onto one line goes to nft -i', () => {
  assert.ok(NftSession.fits('add table ip ha_agent\n# a note\nflush chain ip ha_agent farm_a\nadd rule ip ha_agent farm_a counter comment "FARM_a"\n'));
  for (const bad of ['add rule ip ha_agent a counter # rest', 'add rule ip ha_agent a \\', 'add rule ip ha_agent a\tcounter']) assert.ok(!NftSession.fits(bad), bad);
});

describe('NftCli in a real namespace', needsRoot(), () => {
  const ns = `hanft-${randomBytes(4).toString('hex')}`;
  const sh = (cmd: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8' });
  const list = (what = 'table ip ha_agent') => sh('nft', 'list', ...what.split(' '));
  /** Handles and counters of a chain's rules: unchanged handles mean the rules were not re-added. */
  const rulesOf = (chain: string) => sh('nft', '-a', 'list', 'chain', 'ip', 'ha_agent', chain).split('\n').filter((l) => / # handle \d+$/.test(l) && !/chain /.test(l)).map((l) => l.trim());
  const sendUdp = (ip: string, port: number) => sh('node', '-e', `const s=require('dgram').createSocket('udp4');s.send('x',${port},'${ip}',()=>s.close())`);
  const foreign = () => sh('nft', '-s', 'list', 'table', 'ip', 'other');

  before(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    sh('ip', 'link', 'set', 'lo', 'up');
    sh('ip', 'addr', 'add', '10.1.0.101/32', 'dev', 'lo');
    sh('nft', 'add table ip other; add chain ip other c { type filter hook prerouting priority 0; }; add rule ip other c counter');
  });
  after(() => execFileSync('ip', ['netns', 'del', ns]));

  it("applies the seed's farm, keeps the foreign table through apply, re-apply, no farms and removeAll", async () => {
    const other = foreign();
    assert.match(other, /chain c \{\n\t\ttype filter hook prerouting priority filter; policy accept;\n\t\tcounter\n/);
    const nft = new NftCli(new NsRunner(ns));
    await nft.adopt();
    await nft.sync(desired(seedYaml('dnat')));
    const table = list();
    for (const chain of ['prerouting', 'nat_prerouting', 'farm_app', 'restore_app', 'dnat_app']) assert.match(table, new RegExp(`chain ${chain} \\{`));
    assert.match(table, /ct mark & 0x00003fff == 0x00000000 numgen random mod 2 < 1 ct mark set ct mark & 0xffffc20c \| 0x0000020c counter packets 0 bytes 0 comment "FARM_app_0_"/);
    await nft.sync(desired(seedYaml('snat')));
    assert.match(list(), /snat to 192\.168\.101\.250/);
    await nft.sync(noFarms());
    assert.doesNotMatch(list(), /_app/);
    assert.equal(foreign(), other);
    assert.deepEqual((await nft.verify()).differences, []);
    await nft.removeAll();
    assert.equal(foreign(), other);
    assert.doesNotMatch(sh('nft', 'list', 'tables'), /ha_agent/);
    assert.match(sh('nft', 'list', 'tables'), /table ip other/);
  });

  it('marks a new connection under the mask, keeping bits of other mark users', async () => {
    sh('nft', 'add table ip marks; add chain ip marks raw { type filter hook prerouting priority raw; }; add rule ip marks raw meta mark set 0x10000; '
      + 'add chain ip marks in { type filter hook input priority filter; }; add rule ip marks in udp dport 5353 meta mark 0x10303 counter');
    try {
      const nft = new NftCli(new NsRunner(ns));
      await nft.sync(desired(twoFarms));
      sendUdp('10.1.0.101', 5353);
      assert.match(sh('conntrack', '-L', '-p', 'udp', '--dport', '5353'), /dport=5353 .*mark=771 /, 'ct mark 0x303');
      assert.match(sh('nft', 'list', 'chain', 'ip', 'marks', 'in'), /counter packets 1 /, 'packet mark 0x303 with the foreign bit 0x10000 kept');
      assert.match(sh('nft', 'list', 'set', 'ip', 'ha_agent', 'persist_two_303'), /elements = \{ [\d.]+ timeout 30s expires /);
    } finally {
      sh('nft', 'delete', 'table', 'ip', 'marks');
      sh('conntrack', '-F');
    }
  });

  it('a restarted agent adopts what it finds and changes only the farm that differs; counters of the other survive', async () => {
    const first = new NftCli(new NsRunner(ns));
    await first.sync(desired(twoFarms));
    sendUdp('10.1.0.101', 5353);
    const twoRules = rulesOf('farm_two');
    assert.match(twoRules.join('\n'), /counter packets 1 /);

    const calls: string[] = [];
    const counting = new NsRunner(ns);
    const runner = { run: (c: string, a: readonly string[], o?: Parameters<NsRunner['run']>[2]) => (calls.push(a.join(' ')), counting.run(c, a, o)) };
    const restarted = new NftCli(runner);
    await restarted.adopt();
    assert.match(restarted.appliedText(), /chain farm_one/);
    assert.equal((await restarted.sync(desired(twoFarms))).changed, false);
    assert.ok(!calls.includes('-f -'), 'nothing applied when the kernel already matches');
    const result = await restarted.sync(desired(twoFarms, ['one/a']));
    assert.deepEqual(result.rewritten, ['farm_one']);
    assert.deepEqual(rulesOf('farm_two'), twoRules, "the other farm's rules keep their handles and counters");
    assert.deepEqual((await restarted.verify()).differences, []);
    await restarted.removeAll();
  });

  it('verify finds a flushed chain and a rule changed in place; repair puts them back', async () => {
    const nft = new NftCli(new NsRunner(ns));
    const want = desired(twoFarms);
    await nft.sync(want);
    assert.deepEqual(await nft.verify(), { inSync: true, differences: [] });
    sh('nft', 'flush', 'chain', 'ip', 'ha_agent', 'farm_one');
    const drift = await nft.verify();
    assert.equal(drift.inSync, false);
    assert.deepEqual(drift.differences, ['chain farm_one: 0 rules in the kernel differ from what was applied']);
    await nft.repair(want);
    assert.deepEqual(await nft.verify(), { inSync: true, differences: [] });
    assert.match(list(), /numgen random mod 2 < 1 /);

    const handle = /dnat to 10\.2\.0\.12:80 .*# handle (\d+)/.exec(sh('nft', '-a', 'list', 'chain', 'ip', 'ha_agent', 'dnat_one'))![1]!;
    sh('nft', 'replace', 'rule', 'ip', 'ha_agent', 'dnat_one', 'handle', handle, 'meta l4proto tcp meta mark 0x302 dnat to 10.9.9.9:80');
    assert.deepEqual((await nft.verify()).differences, ['chain dnat_one: changed in the kernel since it was applied']);
    await nft.repair(want);
    assert.deepEqual((await nft.verify()).differences, []);
    assert.doesNotMatch(list(), /10\.9\.9\.9/);
    await nft.removeAll();
  });

  it('keeping no rule text, verify still finds a deleted rule, a foreign rule in an agent chain, a changed map element, a flushed table', async () => {
    const nft = new NftCli(new NsRunner(ns));
    const want = desired(twoFarms);
    await nft.sync(want);
    // An incremental change: the state of farm one is replaced by its new render's, digests only.
    const changed = desired(twoFarms, ['one/a']);
    assert.deepEqual((await nft.sync(changed, new Set(['one']))).rewritten, ['farm_one']);
    assert.deepEqual(await nft.verify(), { inSync: true, differences: [] });
    // The text is rendered again from what was applied: farm one with b down, its only backend a.
    assert.match(nft.appliedText(), /chain farm_one \{\n\t\tcounter .* comment "FARM_one ha-agent:2:[0-9a-f]{16}"\n.*\n.* or 0x302 counter comment "FARM_one_1_"\n\t\}/);
    const drifts: [string, () => void, RegExp][] = [
      ['a deleted rule', () => {
        const handle = /dnat to 10\.2\.0\.12:80 .*# handle (\d+)/.exec(sh('nft', '-a', 'list', 'chain', 'ip', 'ha_agent', 'dnat_one'))![1]!;
        sh('nft', 'delete', 'rule', 'ip', 'ha_agent', 'dnat_one', 'handle', handle);
      }, /^chain dnat_one: 1 rules in the kernel differ/],
      ['a foreign rule', () => sh('nft', 'add', 'rule', 'ip', 'ha_agent', 'restore_two', 'counter'), /^chain restore_two: 2 rules in the kernel differ/],
      ['a changed map element', () => sh('nft', 'delete element ip ha_agent mark_restore { 0x00000303 }; add element ip ha_agent mark_restore { 0x00000303 : goto restore_one }'),
        /^map mark_restore: 1 elements missing, 1 unexpected$/],
      ['a flushed table', () => sh('nft', 'flush', 'table', 'ip', 'ha_agent'), /^chain farm_one: 0 rules in the kernel differ/],
    ];
    for (const [what, change, found] of drifts) {
      change();
      const report = await nft.verify();
      assert.equal(report.inSync, false, what);
      assert.ok(report.differences.some((d) => found.test(d)), `${what}: ${report.differences.join('; ')}`);
      await nft.repair(changed);
      assert.deepEqual(await nft.verify(), { inSync: true, differences: [] }, `${what} repaired`);
    }
    await nft.removeAll();
  });

  it('a change goes through the long-lived nft -i; a refused one re-reads the kernel; a dead session restarts', async () => {
    const calls: string[] = [];
    const inner = new NsRunner(ns);
    const runner = { run: (c: string, a: readonly string[], o?: Parameters<NsRunner['run']>[2]) => (calls.push(a.join(' ')), inner.run(c, a, o)) };
    const nft = new NftCli(runner, { session: ['ip', 'netns', 'exec', ns, 'nft'] });
    await nft.sync(desired(twoFarms));
    calls.length = 0;
    assert.deepEqual((await nft.sync(desired(twoFarms, ['one/a']), new Set(['one']))).rewritten, ['farm_one']);
    assert.deepEqual(calls, [], 'no nft -f, no listing');
    assert.doesNotMatch(sh('nft', 'list', 'chain', 'ip', 'ha_agent', 'farm_one'), /numgen/);

    // Gone behind the agent's back: `flush chain farm_one` is refused as a whole, then the table is rebuilt.
    sh('nft', 'delete', 'table', 'ip', 'ha_agent');
    assert.equal((await nft.sync(desired(twoFarms), new Set(['one']))).changed, true);
    assert.deepEqual(calls, ['-j -s list table ip ha_agent', '-f -']);
    assert.deepEqual((await nft.verify()).differences, []);

    // Whether a session that died took the last line with it is unknown: the kernel is re-read.
    const sessions = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter((pid) => pid && /^nft\0-i\0$/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')));
    assert.equal(sessions.length, 1);
    process.kill(Number(sessions[0]), 'SIGKILL');
    calls.length = 0;
    assert.equal((await nft.sync(desired(twoFarms, ['one/b']), new Set(['one']))).changed, true);
    assert.deepEqual(calls, ['-j -s list table ip ha_agent', '-f -']);
    assert.match(sh('nft', 'list', 'chain', 'ip', 'ha_agent', 'farm_one'), /FARM_one_0_/);
    calls.length = 0;
    await nft.sync(desired(twoFarms), new Set(['one']));
    assert.deepEqual(calls, [], 'a new nft -i, no nft -f');
    assert.deepEqual((await nft.verify()).differences, []);
    await nft.removeAll();
  });
});
