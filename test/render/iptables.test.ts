// The iptables renderer: golden files (also checked by iptables-restore --test), the seed's
// listing, and exact shares for every algorithm.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parseConfigText } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { parseDownList, staticPlan } from '../../agent/plan/static.js';
import { formatRestore, renderIptables, renderRuleset, portChunks, HASH_BUCKET_OFFSET } from '../../agent/render/iptables.js';
import { lastMatchProbabilities, simulateLastMatch } from '../../agent/plan/shares.js';
import type { DesiredState } from '../../agent/plan/plan.js';
import { assertGolden, prng, repoPath } from '../support/repo.js';
import { needsRoot } from '../support/root.js';
import { bucketOf } from '../../agent/render/iptables.js';
import { GOLDEN_CASES, seedYaml } from './cases.js';

function load(yaml: string): Config {
  const result = parseConfigText(yaml);
  if (!result.ok) throw new Error(result.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return result.config;
}

function desiredFor(yaml: string, down: readonly string[] = []): DesiredState {
  const config = load(yaml);
  const { keys, errors } = parseDownList(config, down);
  assert.deepEqual(errors, []);
  return staticPlan(config, keys);
}

const rulesOf = (text: string, chain: string): string[] =>
  text.split('\n').filter((l) => l.startsWith(`-A ${chain} `)).map((l) => l.slice(`-A ${chain} `.length));

// IPv4 farms in NAME.rules (iptables-restore), IPv6 farms in NAME.rules6 (ip6tables-restore).
const rendered = (c: (typeof GOLDEN_CASES)[number]) => renderIptables(desiredFor(c.yaml, c.down));

for (const c of GOLDEN_CASES) {
  test(`golden: ${c.name}`, () => {
    const { ipv4, ipv6 } = rendered(c);
    assertGolden(`test/golden/iptables/${c.name}.rules`, ipv4);
    if (ipv6 !== undefined) assertGolden(`test/golden/iptables/${c.name}.rules6`, ipv6);
    assertGolden(`test/golden/iptables/${c.name}.ipset`, rendered(c).ipsets);
  });
}

test('every golden file passes iptables-restore --test (and ip6tables-restore --test)', needsRoot(), () => {
  const ns = `harst${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    for (const c of GOLDEN_CASES) {
      const { ipv4, ipv6, ipsets } = rendered(c);
      // The rules name the VIP sets, which must exist for the rules to load.
      execFileSync('ip', ['netns', 'exec', ns, 'ipset', 'restore', '-file', repoPath(`test/golden/iptables/${c.name}.ipset`)]);
      execFileSync('ip', ['netns', 'exec', ns, 'iptables-restore', '--test', '--noflush', repoPath(`test/golden/iptables/${c.name}.rules`)]);
      execFileSync('ip', ['netns', 'exec', ns, 'iptables-restore', '--test', '--noflush'], { input: ipv4 });
      if (ipv6 === undefined) continue;
      execFileSync('ip', ['netns', 'exec', ns, 'ip6tables-restore', '--test', '--noflush', repoPath(`test/golden/iptables/${c.name}.rules6`)]);
      execFileSync('ip', ['netns', 'exec', ns, 'ip6tables-restore', '--test', '--noflush'], { input: ipv6 });
    }
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});

test("the seed's listing: same matches, probabilities 1.0 then 0.5, CONNMARK restore/save, DNAT, SNAT to the VIP", () => {
  const dnat = formatRestore(renderRuleset(desiredFor(seedYaml('dnat'))));
  assert.deepEqual(rulesOf(dnat, 'HAM-app'), [
    '-d 192.168.101.250/32 -p tcp -m multiport --dports 443 -m statistic --mode random --probability 1.00000000000 -m comment --comment FARM_app_1_ -j MARK --set-xmark 0x20d/0x3fff',
    '-d 192.168.101.250/32 -p tcp -m multiport --dports 443 -m statistic --mode random --probability 0.50000000000 -m comment --comment FARM_app_0_ -j MARK --set-xmark 0x20c/0x3fff',
  ]);
  const pre = rulesOf(dnat, 'HAGENT-PRE');
  assert.match(pre[0]!, /^-j CONNMARK --restore-mark/);
  assert.match(pre.at(-1)!, /--ctstate NEW .*-j CONNMARK --save-mark/);
  assert.deepEqual(rulesOf(dnat, 'HAD-app'), [
    '-p tcp -m mark --mark 0x20c/0x3fff -m comment --comment FARM_app_0_ -j DNAT --to-destination 192.168.1.10:443',
    '-p tcp -m mark --mark 0x20d/0x3fff -m comment --comment FARM_app_1_ -j DNAT --to-destination 192.168.1.11:443',
  ]);
  assert.deepEqual(rulesOf(dnat, 'HAS-app'), [], 'dnat mode has no SNAT');
  const snat = formatRestore(renderRuleset(desiredFor(seedYaml('snat'))));
  assert.deepEqual(rulesOf(snat, 'HAS-app'), [
    '-p tcp -m mark --mark 0x20c/0x3fff -m comment --comment FARM_app_0_ -j SNAT --to-source 192.168.101.250',
    '-p tcp -m mark --mark 0x20d/0x3fff -m comment --comment FARM_app_1_ -j SNAT --to-source 192.168.101.250',
  ]);
  assert.ok(snat.includes('-I PREROUTING 1 -j HAGENT-PRE') && snat.includes('-I POSTROUTING 1 -j HAGENT-SNAT'));
});

/** Parses the rendered probabilities back (rules are emitted n-1 .. 0) and simulates the kernel. */
function simulatedShares(text: string, chain: string): number[] {
  const probabilities = rulesOf(text, chain).map((r) => Number(/--probability (\S+)/.exec(r)![1])).reverse();
  return simulateLastMatch(probabilities);
}

test('property: last-match-wins over the rendered probabilities gives w_i / sum(w) within 1e-9', () => {
  const random = prng(20261126);
  for (let round = 0; round < 400; round++) {
    const n = 1 + Math.floor(random() * 32);
    const weights = Array.from({ length: n }, () => 1 + Math.floor(random() * 1000));
    const backends = weights.map((w, i) => `      - { name: b${i}, ip: 10.2.${Math.floor(i / 200)}.${(i % 200) + 1}, port: 80, weight: ${w} }`).join('\n');
    const text = formatRestore(renderRuleset(desiredFor(`node: { id: lb1 }\nfarms:\n  - name: f\n    vip: 10.1.0.100\n    ports: [80]\n    backends:\n${backends}\n`)));
    const shares = simulatedShares(text, 'HAM-f');
    const total = weights.reduce((a, b) => a + b, 0);
    shares.forEach((share, i) => assert.ok(Math.abs(share - weights[i]! / total) < 1e-9, `round ${round}: backend ${i} share ${share} vs ${weights[i]! / total}`));
  }
});

test("Zevenet CE 5's skew is gone: three equal backends get a third each", () => {
  const shares = simulateLastMatch(lastMatchProbabilities([1, 1, 1]));
  shares.forEach((s) => assert.ok(Math.abs(s - 1 / 3) < 1e-12));
});

test('roundrobin: one full cycle of nth rules sends each backend exactly its weight in slots', () => {
  const c = GOLDEN_CASES.find((x) => x.name === 'roundrobin-udp')!;
  const rules = rulesOf(formatRestore(renderRuleset(desiredFor(c.yaml))), 'HAM-dns');
  const parsed = rules.map((r) => ({ every: Number(/--every (\d+)/.exec(r)![1]), packet: Number(/--packet (\d+)/.exec(r)![1]), mark: /--set-xmark (\S+)\//.exec(r)![1]! }));
  // Kernel semantics: a rule starts its counter at `packet` and matches when it wraps to 0.
  const counters = parsed.map((p) => p.packet);
  const wins: Record<string, number> = {};
  for (let packet = 0; packet < 3 * parsed[0]!.every; packet++) {
    let winner: string | undefined;
    parsed.forEach((p, i) => {
      counters[i] = counters[i] === p.every - 1 ? 0 : counters[i]! + 1;
      if (counters[i] === 0) { assert.equal(winner, undefined, 'two nth rules matched one packet'); winner = p.mark; }
    });
    assert.ok(winner, `packet ${packet} matched no rule`);
    wins[winner] = (wins[winner] ?? 0) + 1;
  }
  assert.deepEqual(Object.values(wins).sort(), [3, 6]);
});

test('hash-srcip: buckets of a down backend go to the others; the rest keep their owner', () => {
  const c = GOLDEN_CASES.find((x) => x.name === 'hash-srcip')!;
  const all = desiredFor(c.yaml).farms[0]!;
  const oneDown = desiredFor(c.yaml, c.down).farms[0]!;
  assert.equal(all.buckets.length, oneDown.buckets.length);
  const owner = (f: typeof all, bucket: number) => f.chain[f.buckets[bucket]!]!.name;
  for (let k = 0; k < all.buckets.length; k++) {
    if (owner(all, k) !== 's2') assert.equal(owner(oneDown, k), owner(all, k), `bucket ${k} moved`);
    else assert.notEqual(owner(oneDown, k), 's2');
  }
  const text = formatRestore(renderRuleset(desiredFor(c.yaml, c.down)));
  assert.ok(text.includes(`--hmark-offset ${HASH_BUCKET_OFFSET}`));
});

test('multiport: more than 15 ports split into several dispatch rules', () => {
  const chunks = portChunks([...Array.from({ length: 14 }, (_, i) => ({ from: 9000 + i, to: 9000 + i })), { from: 8000, to: 8010 }]);
  assert.equal(chunks.length, 2);
  const c = GOLDEN_CASES.find((x) => x.name === 'persistence-ranges')!;
  const text = formatRestore(renderRuleset(desiredFor(c.yaml)));
  assert.equal(rulesOf(text, `HAGENT-FARMS-${bucketOf('10.1.0.100')}`).length, 2);
});

test('all backends down: no MARK rule, and new connections are rejected with a TCP reset', () => {
  const text = formatRestore(renderRuleset(desiredFor(seedYaml('dnat'), ['app/app0', 'app/app1'])));
  assert.deepEqual(rulesOf(text, 'HAM-app'), []);
  assert.deepEqual(rulesOf(text, 'HAR-app'), ['-p tcp -m comment --comment FARM_app_down -j REJECT --reject-with tcp-reset']);
  assert.ok(text.includes('-I INPUT 1 -j HAGENT-REJECT') && text.includes('-I FORWARD 1 -j HAGENT-REJECT'));
});

test('dispatch split by VIP: at 1000 farms the MARK dispatch walks at most 32 bucket compares and 32 farm rules, not 1000', () => {
  const farms = Array.from({ length: 1000 }, (_, i) => `  - { name: f${i}, vip: 10.9.${Math.floor(i / 250)}.${1 + (i % 250)}, ports: [80], backends: [{ name: b, ip: 10.2.0.11, port: 80 }] }`);
  const text = formatRestore(renderRuleset(desiredFor(`node: { id: lb1 }\nfarms:\n${farms.join('\n')}\n`)));
  const heads = rulesOf(text, 'HAGENT-FARMS');
  assert.equal(heads.length, 32);
  assert.ok(heads.every((r) => /^-d 0\.0\.0\.\d+\/0\.0\.0\.31 -j HAGENT-FARMS-\d+$/.test(r)), heads[0]);
  const sizes = Array.from({ length: 32 }, (_, k) => rulesOf(text, `HAGENT-FARMS-${k}`).length);
  assert.equal(sizes.reduce((a, b) => a + b, 0), 1000);
  assert.ok(Math.max(...sizes) <= 32, sizes.join(','));
  // Packets to no VIP leave after one rule: the VIP set is checked before any dispatch.
  assert.ok(rulesOf(text, 'HAGENT-PRE').includes('-m conntrack --ctstate NEW -m mark --mark 0x0/0x3fff -m set --match-set ha-agent-vips dst -j HAGENT-FARMS'));
  assert.equal(rulesOf(text, 'HAGENT-DNAT')[0], '-m set ! --match-set ha-agent-vips dst -j RETURN');
});

test('bucketOf: the low 5 bits of the VIP, IPv4 and IPv6 alike', () => {
  assert.equal(bucketOf('10.9.0.33'), 1);
  assert.equal(bucketOf('fd00:9::1021'), 1);
  assert.equal(bucketOf('fd00:9::'), 0);
  assert.equal(bucketOf('64:ff9b::192.0.2.35'), 3);
});
