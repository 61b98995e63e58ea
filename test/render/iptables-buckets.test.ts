// The iptables bucket -> backend mark step: pushed through a tiny interpreter of its mark matches,
// every bucket of random Maglev tables must end with its own backend's mark, after a bounded walk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bucketDispatch, BUCKET_CHAINS, type BucketDispatch, type BucketTarget } from '../../agent/render/iptables-buckets.js';
import { consistentOwners, MAGLEV_BUCKETS } from '../../agent/plan/maglev.js';
import { renderRuleset, formatRestore, HASH_BUCKET_OFFSET } from '../../agent/render/iptables.js';
import { parseIptablesSave } from '../../agent/apply/iptables-save.js';
import { isOwnedChain } from '../../agent/render/ruleset.js';
import { parseConfigText } from '../../config/load.js';
import { staticPlan } from '../../agent/plan/static.js';

/** The walk of one packet whose mark is `mark`, through `rules`: what iptables does with
 * `-m mark --mark V[/M]`, `-j MARK --set-xmark X/0xffffffff`, `-j CHAIN` and `-g CHAIN`. */
function walk(rules: readonly string[], chains: ReadonlyMap<string, readonly string[]>, start: number): { mark: number; walked: number; tail: boolean } {
  let mark = start >>> 0;
  let walked = 0;
  let tail = false;
  const run = (list: readonly string[]): 'goto' | 'end' => {
    for (const rule of list) {
      walked++;
      const m = /-m mark --mark (0x[0-9a-f]+)(?:\/(0x[0-9a-f]+))? /.exec(rule);
      assert.ok(m, `no mark match in ${rule}`);
      const value = Number(m[1]);
      const mask = m[2] === undefined ? 0xffffffff : Number(m[2]);
      if (((mark & mask) >>> 0) !== value) continue;
      const set = /-j MARK --set-xmark (0x[0-9a-f]+)\/0xffffffff$/.exec(rule);
      const jump = /-([jg]) (HB\S+)$/.exec(rule);
      if (set) mark = Number(set[1]);
      else if (rule === TAIL) tail = true;
      else if (jump) {
        const target = chains.get(jump[2]!);
        assert.ok(target, `${jump[2]} is not rendered`);
        run(target);
        if (jump[1] === 'g') return 'goto';
      } else assert.fail(`unexpected target in ${rule}`);
    }
    return 'end';
  };
  run(rules);
  return { mark, walked, tail };
}

/** What follows the buckets in the MARK chain (persistence, log): every packet must still reach it. */
const TAIL = '-m mark --mark 0x0/0x0 -j TAIL';

function check(dispatch: BucketDispatch, owners: readonly number[], targets: readonly BucketTarget[], last: boolean): number[] {
  const chains = new Map(dispatch.chains.map((c) => [c.name, c.rules]));
  const rules = last ? dispatch.rules : [...dispatch.rules, TAIL];
  const walks: number[] = [];
  owners.forEach((owner, bucket) => {
    const { mark, walked, tail } = walk(rules, chains, HASH_BUCKET_OFFSET + bucket);
    assert.equal(mark, targets[owner]!.mark, `bucket ${bucket}`);
    assert.equal(tail, !last, `bucket ${bucket}: the rules after the buckets are ${tail ? '' : 'not '}reached`);
    walks.push(last ? walked : walked - 1);
  });
  return walks;
}

const targetsOf = (n: number): BucketTarget[] => Array.from({ length: n }, (_, i) => ({ mark: 0x200 + i, comment: `-m comment --comment FARM_f_${i}_` }));

test('random Maglev tables: every bucket gets its backend mark, walking at most 64 rules', () => {
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 12 }),
    fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }),
    fc.boolean(),
    fc.string({ minLength: 1, maxLength: 8 }),
    (weights, up, last, seed) => {
      const home = weights.map((weight, i) => ({ key: `b${i}`, weight }));
      const usable = home.flatMap((_, i) => (up[i] || i === 0 ? [i] : []));
      const owners = consistentOwners(home, usable, MAGLEV_BUCKETS, seed);
      const targets = targetsOf(home.length);
      const dispatch = bucketDispatch('f', owners, targets, HASH_BUCKET_OFFSET, last);
      const walks = check(dispatch, owners, targets, last);
      assert.ok(Math.max(...walks) <= 2 * BUCKET_CHAINS, `walked ${Math.max(...walks)} rules`);
      assert.ok(dispatch.chains.length <= BUCKET_CHAINS);
      // No more rules than one per bucket and one per sub-chain.
      assert.ok(dispatch.rules.length + dispatch.chains.reduce((n, c) => n + c.rules.length, 0) <= MAGLEV_BUCKETS + BUCKET_CHAINS);
    },
  ), { numRuns: 60 });
});

test('any owners, any table size: every bucket gets its backend mark', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(fc.constant(n), fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: 1500 }))),
    fc.boolean(),
    ([n, owners], last) => {
      const targets = targetsOf(n);
      check(bucketDispatch('f', owners, targets, HASH_BUCKET_OFFSET, last), owners, targets, last);
    },
  ), { numRuns: 200 });
});

test('aligned runs of one backend collapse: one backend is one rule, a uniform sub-chain is none', () => {
  const targets = targetsOf(2);
  const one = bucketDispatch('f', new Array<number>(MAGLEV_BUCKETS).fill(0), targets, HASH_BUCKET_OFFSET, true);
  assert.deepEqual(one.rules, ['-m mark --mark 0x80000000/0xfffffc00 -m comment --comment FARM_f_0_ -j MARK --set-xmark 0x200/0xffffffff']);
  assert.deepEqual(one.chains, []);
  // Buckets 0-511 on b0, the rest on b1 but bucket 1000: two top rules and one sub-chain.
  const owners = Array.from({ length: MAGLEV_BUCKETS }, (_, k) => (k < 512 || k === 1000 ? 0 : 1));
  const split = bucketDispatch('f', owners, targets, HASH_BUCKET_OFFSET, true);
  assert.equal(split.chains.length, 1);
  assert.equal(split.chains[0]!.name, 'HBv-f');
  assert.deepEqual(split.chains[0]!.rules, [
    '-m mark --mark 0x800003e8 -m comment --comment FARM_f_0_ -j MARK --set-xmark 0x200/0xffffffff',
    '-m mark --mark 0x800003e0/0xffffffe0 -m comment --comment FARM_f_1_ -j MARK --set-xmark 0x201/0xffffffff',
  ]);
  check(split, owners, targets, true);
});

test('a 24-character farm name: sub-chains fit 28 characters, and iptables-save reads them back as owned MARK chains', () => {
  const name = 'abcdefghijklmnopqrstuvwx';
  const yaml = `node: { id: lb1, state_dir: /nonexistent/state, run_dir: /nonexistent/run }
farms:
  - name: ${name}
    vip: 10.60.0.100
    ports: [80]
    algorithm: hash-5tuple
    backends:
      - { name: a, ip: 10.61.0.11, port: 80 }
      - { name: b, ip: 10.61.0.12, port: 80 }
      - { name: c, ip: 10.61.0.13, port: 80 }
`;
  const parsed = parseConfigText(yaml);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.issues.map((i) => i.message).join('; '));
  const ruleset = renderRuleset(staticPlan(parsed.config, new Set()));
  const subChains = [...ruleset.chains.values()].filter((c) => c.name.startsWith('HB'));
  assert.equal(subChains.length, BUCKET_CHAINS);
  for (const c of subChains) {
    assert.ok(c.name.length <= 28, `${c.name} is ${c.name.length} characters`);
    assert.ok(isOwnedChain(c.name), `${c.name} is not recognised as the agent's`);
  }
  const back = parseIptablesSave(formatRestore(ruleset));
  for (const c of subChains) {
    const read = back.chains.get(`mangle/${c.name}`);
    assert.ok(read, `${c.name} not read back`);
    assert.equal(read.kind, 'ordered');
    assert.deepEqual(read.rules, c.rules);
  }
  assert.equal(isOwnedChain('HBw-web'), false, 'sub-chain indexes are one base-32 digit');
});
