// hash-5tuple through the plan and both renderers: the same backend per bucket on every LB
// (whatever marks each LB holds), weights respected, a failure moving only its own buckets, and
// rules the real iptables-restore and nft accept.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parseConfigText } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { staticPlan } from '../../agent/plan/static.js';
import { MAGLEV_BUCKETS } from '../../agent/plan/maglev.js';
import type { PlannedFarm } from '../../agent/plan/plan.js';
import { renderIptables } from '../../agent/render/iptables.js';
import { renderNft } from '../../agent/render/nftables.js';
import { needsRoot } from '../support/root.js';

const YAML = `node: { id: lb1 }
farms:
  - name: app
    vip: 10.60.0.100
    ports: [80]
    algorithm: hash-5tuple
    backends:
      - { name: a0, ip: 10.0.0.1, port: 80, weight: 1 }
      - { name: a1, ip: 10.0.0.2, port: 80, weight: 2 }
      - { name: a2, ip: 10.0.0.3, port: 80, weight: 1 }
      - { name: spare, ip: 10.0.0.9, port: 80, priority: 2 }
  - name: app6
    vip: "fd00:60::100"
    ports: [80]
    algorithm: hash-5tuple
    backends: [{ name: b0, ip: "fd00::1", port: 80 }, { name: b1, ip: "fd00::2", port: 80 }]
`;

function load(yaml: string): Config {
  const result = parseConfigText(yaml);
  if (!result.ok) throw new Error(result.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return result.config;
}
const config = load(YAML);
const farmOf = (down: string[] = [], marks?: Map<string, number>): PlannedFarm => staticPlan(config, new Set(down), marks).farms[0]!;
const owners = (farm: PlannedFarm): string[] => farm.buckets.map((k) => farm.chain[k]!.name);

test('buckets follow the configured weights, the backup group takes none while the primary serves', () => {
  const farm = farmOf();
  assert.equal(farm.buckets.length, MAGLEV_BUCKETS);
  const share = (name: string) => farm.backends.find((b) => b.name === name)!.share;
  assert.ok(Math.abs(share('a0') - 0.25) < 0.01 && Math.abs(share('a1') - 0.5) < 0.01 && Math.abs(share('a2') - 0.25) < 0.01, JSON.stringify(farm.backends.map((b) => b.share)));
  assert.equal(share('spare'), 0);
});

test('two LBs with different marks place every bucket on the same backend', () => {
  const other = new Map([['app/a0', 0x3000], ['app/a1', 0x3001], ['app/a2', 0x3002], ['app/spare', 0x3003], ['app6/b0', 0x3004], ['app6/b1', 0x3005]]);
  const here = farmOf();
  const there = farmOf([], other);
  assert.notDeepEqual(here.chain.map((b) => b.mark), there.chain.map((b) => b.mark));
  assert.deepEqual(owners(here), owners(there));
});

test('a backend down moves exactly its buckets; all of the primary down moves the farm to the backup', () => {
  const before = owners(farmOf());
  const after = owners(farmOf(['app/a1']));
  const moved = before.filter((name, b) => name !== after[b]);
  assert.ok(moved.length > 0 && moved.every((name) => name === 'a1'));
  assert.deepEqual(new Set(owners(farmOf(['app/a0', 'app/a1', 'app/a2']))), new Set(['spare']));
  assert.deepEqual(farmOf(['app/a0', 'app/a1', 'app/a2', 'app/spare']).buckets, []);
});

test('iptables: a 5-tuple HMARK into the buckets, then the buckets to backend marks through 32 sub-chains', () => {
  const { ipv4, ipv6 } = renderIptables(staticPlan(config, new Set()));
  assert.match(ipv4, /-j HMARK --hmark-src-prefix 32 --hmark-dst-prefix 32 --hmark-sport-mask 0xffff --hmark-dport-mask 0xffff --hmark-rnd 0x[0-9a-f]{8} --hmark-mod 1021 --hmark-offset 2147483648/);
  assert.match(ipv6!, /-j HMARK --hmark-src-prefix 128 --hmark-dst-prefix 128 /);
  // Every bucket is mapped in test/render/iptables-buckets.test.ts; here: the split is there.
  assert.equal(ipv4.split('\n').filter((l) => /^-A HAM-\S+ -m mark --mark 0x8[0-9a-f]{7}\/0xffffffe0 -g HB[0-9a-v]-/.test(l)).length, 32);
  const bucketRules = ipv4.split('\n').filter((l) => /--mark 0x8[0-9a-f]{7}\S* .*-j MARK --set-xmark/.test(l)).length;
  assert.ok(bucketRules > 0 && bucketRules <= MAGLEV_BUCKETS, `${bucketRules} bucket rules`);
});

test('nftables: jhash of the 5-tuple into a bucket vmap', () => {
  const text = renderNft(staticPlan(config, new Set()));
  assert.match(text, /jhash ip saddr \. ip daddr \. th sport \. th dport mod 1021 seed 0x[0-9a-f]+ vmap \{/);
  assert.match(text, /jhash ip6 saddr \. ip6 daddr \. th sport \. th dport mod 1021 seed 0x[0-9a-f]+ vmap \{/);
});

test('the kernel tools accept both renders', needsRoot(), () => {
  const ns = `ha-maglev-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const desired = staticPlan(config, new Set());
    const { ipv4, ipv6, ipsets } = renderIptables(desired);
    // The rules match the VIP sets, which must exist for the test restore.
    if (ipsets.trim()) execFileSync('ip', ['netns', 'exec', ns, 'ipset', 'restore'], { input: ipsets });
    execFileSync('ip', ['netns', 'exec', ns, 'iptables-restore', '--test', '--noflush'], { input: ipv4 });
    execFileSync('ip', ['netns', 'exec', ns, 'ip6tables-restore', '--test', '--noflush'], { input: ipv6! });
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-c', '-f', '-'], { input: renderNft(desired) });
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});
