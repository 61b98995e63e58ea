// The nftables renderer: golden files (also checked by `nft -c -f`), masked mark writes, exact
// weight slots, and partial updates that touch only the farms that changed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { parseConfigText } from '../../config/load.js';
import { parseDownList, staticPlan } from '../../agent/plan/static.js';
import type { DesiredState } from '../../agent/plan/plan.js';
import { renderNft, nftModel } from '../../agent/render/nftables.js';
import { renderNftUpdate } from '../support/nft-update.js';
import { assertGolden, repoPath } from '../support/repo.js';
import { rootUnavailableReason } from '../support/root.js';
import { GOLDEN_CASES, seedYaml } from './cases.js';

function desiredFor(yaml: string, down: readonly string[] = []): DesiredState {
  const result = parseConfigText(yaml);
  if (!result.ok) throw new Error(result.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  const { keys, errors } = parseDownList(result.config, down);
  assert.deepEqual(errors, []);
  return staticPlan(result.config, keys);
}

const golden = (name: string): string => `test/golden/nftables/${name}.nft`;

for (const c of GOLDEN_CASES) {
  test(`golden: ${c.name}`, () => assertGolden(golden(c.name), renderNft(desiredFor(c.yaml, c.down))));
}

test('every golden file passes nft -c -f (check mode, nothing is committed)', (t) => {
  const reason = rootUnavailableReason();
  if (reason && process.env.CI) assert.fail(`nft -c needs root in CI: ${reason}`);
  if (reason) return t.skip(`skipped: nft -c -f ${reason} (CAP_NET_ADMIN); run as root, or in CI where it fails instead`);
  for (const c of GOLDEN_CASES) execFileSync('nft', ['-c', '-f', repoPath(golden(c.name))], { stdio: ['ignore', 'ignore', 'pipe'] });
});

const twoFarms = `node: { id: lb1 }
farms:
  - name: one
    vip: 10.1.0.100
    ports: [80, "8000-8010"]
    check: { type: tcp, port: 80 }
    backends: [{ name: a, ip: 10.2.0.11 }, { name: b, ip: 10.2.0.12 }]
  - name: two
    vip: 10.1.0.101
    ports: [443]
    mode: snat
    persistence: { type: srcip, ttl: 30s }
    backends: [{ name: c, ip: 10.2.0.13, port: 443 }, { name: d, ip: 10.2.0.14, port: 443 }]
`;
const onlyOne = twoFarms.slice(0, twoFarms.indexOf('  - name: two'));
const lines = (text: string): string[] => text.split('\n').filter((l) => l && !l.startsWith('#'));

test("the seed's farm: masked restore, exact 1:1 choice, masked mark and ct mark writes, DNAT per mark", () => {
  const text = renderNft(desiredFor(seedYaml('dnat')));
  assert.match(text, /^add table ip ha_agent\ndelete table ip ha_agent\ntable ip ha_agent \{$/m);
  assert.match(text, /ct mark and 0x3fff vmap @mark_restore/);
  assert.match(text, /^\t\t\t0x20c : goto restore_app,$/m);
  assert.match(text, /ct mark and 0x3fff == 0x20c meta mark set meta mark and 0xffffc000 or 0x20c return comment "FARM_app_0_ ha-agent:2:[0-9a-f]{16}"/);
  assert.match(text, /\tcounter ct mark set ct mark and 0xffffc000 comment "FARM_app ha-agent:3:[0-9a-f]{16}"\n/);
  assert.match(text, /\tct mark and 0x3fff == 0 numgen random mod 2 < 1 ct mark set ct mark and 0xffffc000 or 0x20c counter comment "FARM_app_0_"\n/);
  assert.match(text, /\tct mark and 0x3fff == 0 ct mark set ct mark and 0xffffc000 or 0x20d counter comment "FARM_app_1_"\n/);
  assert.match(text, /\tct state new ct mark and 0x3fff vmap @mark_restore\n/, 'the chosen mark is restored onto the packet');
  assert.match(text, /192\.168\.101\.250 \. tcp \. 443 : jump farm_app/);
  assert.doesNotMatch(text, /chain mark_/, 'weight farms need no per-backend chains');
  assert.match(text, /meta l4proto tcp meta mark and 0x3fff == 0x20d counter dnat to 192.168.1.11:443 comment "FARM_app_1_"/);
  assert.doesNotMatch(text, /table (?!ip ha_agent)/, 'names no other table');
});

test('weights 1:2:3 are exact slots; a slow-start weight says how close it is', () => {
  const text = renderNft(desiredFor(GOLDEN_CASES.find((c) => c.name === 'weights-123')!.yaml));
  assert.match(text, /# weight: slots 1:2:3 of 6 give the exact weight shares/);
  // 1/6, then (5/6)(2/5) = 2/6, then what is left: 3/6.
  assert.match(text, / == 0 numgen random mod 6 < 1 ct mark .* comment "FARM_web_0_"\n\t\t.* == 0 numgen random mod 5 < 2 ct mark .* comment "FARM_web_1_"\n\t\t.* == 0 ct mark .* comment "FARM_web_2_"\n\t\}/);
  const desired = desiredFor(seedYaml('dnat'));
  const [farm] = desired.farms;
  const slow = { ...desired, farms: [{ ...farm!, chain: [{ ...farm!.chain[0]!, effectiveWeight: 0.123456 }, farm!.chain[1]!] }] };
  assert.match(renderNft(slow), /# weight: slots 112:912 of 1024 give the weight shares to within 0\.05\d points/);
});

test('a full mask writes marks without and/or', () => {
  const desired = { ...desiredFor(seedYaml('dnat')), markMask: 0xffffffff };
  const text = renderNft(desired);
  assert.match(text, /\tct mark vmap @mark_restore/);
  assert.match(text, /ct mark == 0x20c meta mark set 0x20c return comment/);
  assert.match(text, /counter ct mark set 0x0 comment/);
  assert.match(text, /ct mark == 0 numgen random mod 2 < 1 ct mark set 0x20c counter comment/);
});

test('an update with nothing changed is empty; without a previous state it is the full text', () => {
  const d = desiredFor(twoFarms);
  assert.equal(renderNftUpdate(d, desiredFor(twoFarms)), '');
  assert.equal(renderNftUpdate(undefined, d), renderNft(d));
});

test('a backend going down rewrites only its farm chain (and, with persistence, deletes its set)', () => {
  const one = lines(renderNftUpdate(desiredFor(twoFarms), desiredFor(twoFarms, ['one/a']), new Set(['one'])));
  assert.equal(one[0], 'add table ip ha_agent');
  assert.deepEqual(one.filter((l) => /^(flush|delete|add (chain|set))/.test(l)), ['flush chain ip ha_agent farm_one']);
  assert.ok(one.every((l) => !/_two|delete table/.test(l)));

  const two = lines(renderNftUpdate(desiredFor(twoFarms), desiredFor(twoFarms, ['two/c']), new Set(['two'])));
  const [c, d] = desiredFor(twoFarms).farms[1]!.backends.map((b) => b.mark.toString(16));
  assert.deepEqual(two.filter((l) => /^(flush|delete|add (chain|set))/.test(l)), [
    'flush chain ip ha_agent farm_two',
    `delete set ip ha_agent persist_two_${c}`,
  ]);
  // The single backend left takes every new connection without a numgen.
  assert.ok(two.some((l) => new RegExp(`^add rule ip ha_agent farm_two ct mark and 0x3fff == 0 ct mark set .* counter update @persist_two_${d} \\{ ip saddr timeout 30s \\} comment "FARM_two_1_"$`).test(l)), two.join('\n'));
  assert.ok(two.every((l) => !l.includes(`persist_two_${c}`) || l.startsWith('delete set')), 'nothing refers to the deleted set');
});

test('a farm going all down gets a reject chain and a dispatch element, and back', () => {
  const up = desiredFor(twoFarms);
  const down = desiredFor(twoFarms, ['one/a', 'one/b']);
  const text = renderNftUpdate(up, down);
  assert.match(text, /^add chain ip ha_agent down_one$/m);
  assert.match(text, /^add rule ip ha_agent down_one meta l4proto tcp counter reject with tcp reset comment "FARM_one_down ha-agent:1:\w+"$/m);
  assert.match(text, /^add element ip ha_agent down_dispatch \{ 10\.1\.0\.100 \. tcp \. 80 : goto down_one, 10\.1\.0\.100 \. tcp \. 8000-8010 : goto down_one \}$/m);
  const back = renderNftUpdate(down, up);
  assert.match(back, /^delete element ip ha_agent down_dispatch \{ 10\.1\.0\.100 \. tcp \. 80, 10\.1\.0\.100 \. tcp \. 8000-8010 \}$/m);
  assert.match(back, /^delete chain ip ha_agent down_one$/m);
  assert.ok(back.indexOf('delete element') < back.indexOf('delete chain'), 'the element goes before its chain');
});

test('adding a farm is new chains and elements only; removing it deletes only its objects', () => {
  const added = renderNftUpdate(desiredFor(onlyOne), desiredFor(twoFarms));
  assert.doesNotMatch(added, /flush|delete/);
  assert.match(added, /^add set ip ha_agent persist_two_\w+ \{ type ipv4_addr; flags dynamic,timeout; size 65536; \}$/m);
  assert.match(added, /^add element ip ha_agent farm_dispatch \{ 10\.1\.0\.101 \. tcp \. 443 : jump farm_two \}$/m);
  assert.match(added, /^add element ip ha_agent snat_dispatch \{ 0x\w+ : goto snat_two, 0x\w+ : goto snat_two \}$/m);
  assert.doesNotMatch(added, /_one/);

  const removed = lines(renderNftUpdate(desiredFor(twoFarms), desiredFor(onlyOne)));
  assert.ok(removed.every((l) => l === 'add table ip ha_agent' || /_two|10\.1\.0\.101|0x\w+(, 0x\w+)? \}$/.test(l)), removed.join('\n'));
  const sets = removed.findIndex((l) => l.startsWith('delete set'));
  assert.ok(sets > removed.findIndex((l) => l.startsWith('flush chain ip ha_agent farm_two')), 'rules using a set are flushed before it goes');
});

test('farms outside `changed` are taken as they were', () => {
  assert.equal(renderNftUpdate(desiredFor(twoFarms), desiredFor(twoFarms, ['one/a']), new Set(['two'])), '');
});

test('the model keeps every farm object and every element in config order', () => {
  const model = nftModel(desiredFor(twoFarms));
  assert.deepEqual([...model.elements.get('farm_dispatch')!.keys()], ['10.1.0.100 . tcp . 80', '10.1.0.100 . tcp . 8000-8010', '10.1.0.101 . tcp . 443']);
  assert.equal(model.elements.get('mark_restore')!.size, 4);
  assert.deepEqual([...model.chains.keys()].slice(0, 5), ['prerouting', 'nat_prerouting', 'nat_postrouting', 'input', 'forward']);
});
