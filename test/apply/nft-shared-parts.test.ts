// Defect: a per-farm change built the table's shared part (limit_dispatch and refuse, the direct
// and notrack maps and their chains) from the changed farms alone, so a farm dropping its limits
// or its dsr/tunnel mode deleted objects another farm still used, and a farm gaining them added
// the shared chains' rules a second time. Here, in a real namespace, one farm changes through an
// incremental sync naming only it, as the engine does, and the table must end up as a full apply
// of the same config makes it, without the apply path listing the kernel.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { desiredState as desired } from '../support/config.js';
import { NftCli } from '../../agent/apply/nftables.js';
import type { Runner } from '../../agent/apply/runner.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';

const farm = (name: string, vip: string, mark: number, extra: string, backend = ', port: 80'): string => `  - name: ${name}
    vip: ${vip}
    ports: [80]
    check: { type: none }
${extra}    backends: [{ name: ${name}0, ip: 10.2.0.${mark & 0xff}${backend}, mark: 0x${mark.toString(16)} }]
`;
const config = (...farms: string[]): string => `node: { id: lb1 }\nfarms:\n${farms.join('')}`;

const limited = (name: string, vip: string, mark: number, action: 'drop' | 'reject') => farm(name, vip, mark, `    limits: { new_per_second: 100, action: ${action} }\n`);
/** Limits only through a backend's max_conns, whose rule goes to the shared refuse chain. */
const capped = (name: string, vip: string, mark: number) => farm(name, vip, mark, '', ', port: 80, max_conns: 10');
const plain = (name: string, vip: string, mark: number) => farm(name, vip, mark, '');
const direct = (name: string, vip: string, mark: number, mode: 'dsr' | 'tunnel') => farm(name, vip, mark, `    mode: ${mode}\n    algorithm: hash-5tuple\n`, '');

interface Case {
  readonly name: string;
  readonly from: string;
  readonly to: string;
  readonly changed: string;
  /** Lines `nft list map ip ha_agent MAP` must still show for the farm left alone. */
  readonly kept: readonly (readonly [map: string, element: RegExp])[];
}

const LIMITS = [['limit_dispatch', /0x00000302 : goto limit_two/]] as const;
const DIRECT = [['direct_dispatch', /10\.1\.0\.102 \. tcp \. 80 : goto direct_two/], ['notrack_dispatch', /10\.1\.0\.102 \. tcp \. 80 : goto untrack_vip/]] as const;

const CASES: Case[] = [
  // The last farm leaving a shared part takes it away: its maps go with the elements that point
  // at the farm's chains, which the kernel refuses to delete while a map element still uses them.
  { name: 'one, the last farm with limits, drops them', from: config(limited('one', '10.1.0.101', 0x301, 'reject'), plain('two', '10.1.0.102', 0x302)),
    to: config(plain('one', '10.1.0.101', 0x301), plain('two', '10.1.0.102', 0x302)), changed: 'one', kept: [] },
  { name: 'dsr one, the last direct farm, becomes dnat', from: config(direct('one', '10.1.0.101', 0x301, 'dsr'), plain('two', '10.1.0.102', 0x302)),
    to: config(plain('one', '10.1.0.101', 0x301), plain('two', '10.1.0.102', 0x302)), changed: 'one', kept: [] },
  { name: 'one drops its limits, two keeps limits that drop', from: config(limited('one', '10.1.0.101', 0x301, 'reject'), limited('two', '10.1.0.102', 0x302, 'drop')),
    to: config(plain('one', '10.1.0.101', 0x301), limited('two', '10.1.0.102', 0x302, 'drop')), changed: 'one', kept: LIMITS },
  { name: 'one drops its limits, two keeps a max_conns that refuses', from: config(limited('one', '10.1.0.101', 0x301, 'reject'), capped('two', '10.1.0.102', 0x302)),
    to: config(plain('one', '10.1.0.101', 0x301), capped('two', '10.1.0.102', 0x302)), changed: 'one', kept: LIMITS },
  { name: 'one with limits is removed, two keeps its limits', from: config(limited('one', '10.1.0.101', 0x301, 'reject'), limited('two', '10.1.0.102', 0x302, 'drop')),
    to: config(limited('two', '10.1.0.102', 0x302, 'drop')), changed: 'one', kept: LIMITS },
  { name: 'one gains limits while two has them', from: config(plain('one', '10.1.0.101', 0x301), limited('two', '10.1.0.102', 0x302, 'reject')),
    to: config(limited('one', '10.1.0.101', 0x301, 'reject'), limited('two', '10.1.0.102', 0x302, 'reject')), changed: 'one', kept: LIMITS },
  { name: 'dsr one becomes dnat, dsr two stays', from: config(direct('one', '10.1.0.101', 0x301, 'dsr'), direct('two', '10.1.0.102', 0x302, 'dsr')),
    to: config(plain('one', '10.1.0.101', 0x301), direct('two', '10.1.0.102', 0x302, 'dsr')), changed: 'one', kept: DIRECT },
  { name: 'tunnel one becomes dnat, dsr two stays', from: config(direct('one', '10.1.0.101', 0x301, 'tunnel'), direct('two', '10.1.0.102', 0x302, 'dsr')),
    to: config(plain('one', '10.1.0.101', 0x301), direct('two', '10.1.0.102', 0x302, 'dsr')), changed: 'one', kept: DIRECT },
  { name: 'dsr one is removed, dsr two stays', from: config(direct('one', '10.1.0.101', 0x301, 'dsr'), direct('two', '10.1.0.102', 0x302, 'dsr')),
    to: config(direct('two', '10.1.0.102', 0x302, 'dsr')), changed: 'one', kept: DIRECT },
  { name: 'dnat one becomes dsr while dsr two has the direct part', from: config(plain('one', '10.1.0.101', 0x301), direct('two', '10.1.0.102', 0x302, 'dsr')),
    to: config(direct('one', '10.1.0.101', 0x301, 'dsr'), direct('two', '10.1.0.102', 0x302, 'dsr')), changed: 'one', kept: DIRECT },
];

type Item = Record<string, Record<string, unknown>>;

/** `nft -j list table` without handles, objects sorted (map elements too), rules in order per chain. */
function normalized(json: string): { objects: string[]; rules: Record<string, string[]> } {
  const objects: string[] = [];
  const rules: Record<string, string[]> = {};
  for (const item of (JSON.parse(json) as { nftables: Item[] }).nftables) {
    const [kind, body] = Object.entries(item)[0]!;
    if (kind === 'metainfo') continue;
    const { handle: _handle, ...rest } = body;
    if (Array.isArray(rest.elem)) rest.elem = rest.elem.map((e) => JSON.stringify(e)).sort();
    if (kind === 'rule') (rules[String(rest.chain)] ??= []).push(JSON.stringify(rest.expr) + JSON.stringify(rest.comment ?? ''));
    else objects.push(`${kind} ${JSON.stringify(rest)}`);
  }
  return { objects: objects.sort(), rules };
}

describe('a per-farm change keeps the shared objects other farms use', needsRoot(), () => {
  const ns = `hanfts-${randomBytes(4).toString('hex')}`;
  const sh = (cmd: string, ...args: string[]) => execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8' });
  const table = () => normalized(sh('nft', '-j', 'list', 'table', 'ip', 'ha_agent'));

  before(() => execFileSync('ip', ['netns', 'add', ns]));
  after(() => execFileSync('ip', ['netns', 'del', ns]));

  for (const c of CASES) {
    it(c.name, async () => {
      // The table as a whole apply of the final config makes it.
      const whole = new NftCli(new NsRunner(ns));
      await whole.sync(desired(c.to));
      const want = table();
      await whole.removeAll();

      const calls: string[] = [];
      const inner = new NsRunner(ns);
      const runner: Runner = { run: (cmd, args, options) => (calls.push(args.join(' ')), inner.run(cmd, args, options)) };
      const nft = new NftCli(runner);
      await nft.sync(desired(c.from));
      calls.length = 0;
      const result = await nft.sync(desired(c.to), new Set([c.changed]));
      assert.equal(result.changed, true);
      assert.deepEqual(calls, ['-f -'], 'one transaction, accepted as built: no listing to recover from a refusal');
      for (const [map, element] of c.kept) assert.match(sh('nft', 'list', 'map', 'ip', 'ha_agent', map), element, `${map} keeps farm two's element`);
      assert.deepEqual(table(), want, 'the table is as a whole apply of the same config makes it');
      assert.deepEqual(await nft.verify(), { inSync: true, differences: [] });
      await nft.removeAll();
    });
  }
});
