// Fuzzing the config loader (check-config, run, reload and cluster pushes all go through it):
// random YAML text, random YAML trees built from the schema's own keys, mutations of valid
// configs (the fixture and the good cases), and huge and deep documents. Property: issues as
// `path: message` strings or a frozen config whose names hold only their documented characters
// (names end up in chain names, nft sets and keepalived.conf); never an exception.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { loadConfigFile, parseConfigText, validateConfig, type ConfigResult } from '../../config/load.js';
import { BACKEND_NAME, FARM_NAME, NODE_ID } from '../../config/schema.js';
import { isInterfaceName } from '../../config/net.js';
import { GOOD_CASES } from '../config/cases/good.js';
import { anyText, HEAP_BOUND, heapGrowth, params, PROTO_WORDS, runs, testTimeout } from './support.js';

const FULL = readFileSync(fileURLToPath(new URL('../../../test/fixtures/config/full.yaml', import.meta.url)), 'utf8');
const SEEDS = [FULL, ...GOOD_CASES.map((c) => c.yaml)];
const SEED_TREES = SEEDS.map((text) => parse(text) as unknown);

const KEYS = ['node', 'id', 'farms', 'name', 'vip', 'ports', 'protocol', 'mode', 'backends', 'ip', 'port', 'weight', 'priority', 'admin',
  'check', 'type', 'interval', 'timeout', 'rise', 'fall', 'command', 'path', 'host', 'vrrp', 'interface', 'virtual_router_id',
  'cluster', 'redis', 'dataplane', 'driver', 'control', 'socket', 'persistence', 'ttl', 'snat_source', 'algorithm', 'conntrackd', ...PROTO_WORDS];
const SCALARS = fc.oneof(anyText(20), fc.integer(), fc.double(), fc.boolean(), fc.constant(null),
  fc.constantFrom('lb1', 'app', '10.0.0.1', '192.0.2.10', '2s', '0x10', '80', '8000-8010', 'tcp', 'udp', 'exec', 'eth0', 'drain', 'dnat', '{ip}', '-1', 'NaN', '1e400'));

/** Trees of the schema's keys and plausible values: deep enough to get past the first check. */
const { tree } = fc.letrec<{ tree: unknown }>((t) => ({
  tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, SCALARS,
    fc.array(t('tree'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), t('tree'), { maxKeys: 6 })),
}));

type Path = (string | number)[];
function paths(value: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...at, Array.isArray(value) ? Number(k) : k], out);
  return out;
}

/** One edit of a tree: replace, delete, or add a key at a node picked by index. */
const edit = fc.record({ at: fc.nat(), op: fc.constantFrom('replace', 'delete', 'add', 'duplicate'), key: fc.constantFrom(...KEYS), value: tree });
type Edit = typeof edit extends fc.Arbitrary<infer E> ? E : never;

function mutate(root: unknown, edits: readonly Edit[]): unknown {
  let doc = structuredClone(root);
  for (const e of edits) {
    const all = paths(doc);
    const path = all[e.at % all.length]!;
    if (path.length === 0) { if (e.op === 'replace') doc = e.value; continue; }
    type Node = Record<string | number, unknown>;
    const parent = path.slice(0, -1).reduce((node, k) => node[k] as Node, doc as Node);
    const key = path.at(-1)!;
    const child = parent[key];
    if (e.op === 'replace') parent[key] = e.value;
    else if (e.op === 'delete') Array.isArray(parent) ? parent.splice(Number(key), 1) : delete parent[key];
    else if (e.op === 'duplicate' && Array.isArray(parent)) parent.push(structuredClone(child));
    else if (child && typeof child === 'object' && !Array.isArray(child)) (child as Node)[e.key] = e.value;
  }
  return doc;
}

/** Text-level edits of a valid config: cut, splice random text, repeat a slice. */
const textMutation = fc.tuple(fc.constantFrom(...SEEDS), fc.array(fc.tuple(fc.nat(), fc.nat(40), anyText(16)), { minLength: 1, maxLength: 4 }))
  .map(([text, edits]) => edits.reduce((t, [at, del, insert]) => { const i = at % (t.length + 1); return t.slice(0, i) + insert + t.slice(i + del); }, text));

function assertResult(result: ConfigResult): void {
  if (!result.ok) {
    assert.ok(result.issues.length > 0, 'a refusal says why');
    for (const issue of result.issues) {
      assert.equal(typeof issue.path, 'string');
      assert.equal(typeof issue.message, 'string');
      assert.ok(issue.message.length > 0);
    }
    return;
  }
  const c = result.config;
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.farms));
  assert.match(c.node.id, NODE_ID);
  for (const farm of c.farms) {
    assert.match(farm.name, FARM_NAME);
    for (const b of farm.backends) {
      assert.match(b.name, BACKEND_NAME);
      // No port: the farm's (protocol all, or the VIP's port kept).
      if (b.port !== undefined) assert.ok(Number.isInteger(b.port) && b.port >= 1 && b.port <= 65535, `port ${b.port}`);
    }
  }
  if (c.vrrp) assert.ok(isInterfaceName(c.vrrp.interface), c.vrrp.interface);
}

const yamlOf = (value: unknown): string => { try { return stringify(value); } catch { return String(value); } };

describe('fuzz: config loader', () => {
  const RUNS = 1500;
  it(`random text is a config or issues (${runs(RUNS)} runs)`, { timeout: testTimeout(30_000, RUNS) }, () => {
    fc.assert(fc.property(fc.oneof(anyText(400), textMutation), (text) => assertResult(parseConfigText(text))), params(RUNS));
  });

  it(`random trees of config keys, as YAML and as data, are a config or issues (${runs(RUNS)} runs)`, { timeout: testTimeout(30_000, RUNS) }, () => {
    fc.assert(fc.property(tree, (value) => {
      assertResult(validateConfig(value));
      assertResult(parseConfigText(yamlOf(value)));
    }), params(RUNS));
  });

  it(`mutations of valid configs are a config or issues, in bounded memory (${runs(RUNS)} runs)`, { timeout: testTimeout(60_000, RUNS) }, async () => {
    const growth = await heapGrowth(() => fc.assert(fc.property(fc.constantFrom(...SEED_TREES), fc.array(edit, { minLength: 1, maxLength: 4 }), (seed, edits) => {
      const doc = mutate(seed, edits);
      assertResult(validateConfig(doc));
      assertResult(parseConfigText(yamlOf(doc)));
    }), params(RUNS)));
    assert.ok(growth < HEAP_BOUND, `heap grew ${growth} bytes`);
  });

  const HUGE_RUNS = 40;
  const HUGE_LONG_CAP = 1000;
  it(`huge and deep documents are refused or loaded within bounds (${runs(HUGE_RUNS, HUGE_LONG_CAP)} runs)`, { timeout: testTimeout(90_000, HUGE_RUNS, HUGE_LONG_CAP) }, () => {
    const deep = fc.tuple(fc.integer({ min: 100, max: 20_000 }), fc.constantFrom('[', '{a: ', '- ', '{"a":[', '&a [', 'node: ')).map(([n, open]) =>
      open === '- ' ? Array.from({ length: Math.min(n, 3000) }, (_, i) => `${' '.repeat(i)}- `).join('\n') : open.repeat(n));
    const wide = fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.nat(3)).map(([n, kind]) => {
      const farms = Array.from({ length: n }, (_, i) => `  - { name: f${i}, vip: 192.0.2.${i % 250 + 1}, ports: [${i % 60000 + 1}], backends: [{ name: b, ip: 10.0.0.1, port: 80 }] }`);
      if (kind === 0) return `node: { id: lb1 }\nfarms:\n${farms.join('\n')}\n`;
      if (kind === 1) return `node: { id: lb1 }\nfarms: []\nx: ${JSON.stringify('y'.repeat(n * 1000))}\n`;
      if (kind === 2) return `a: &a [x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 12 }, (_, i) => `b${i}: &b${i} [${Array(9).fill(i === 0 ? '*a' : `*b${i - 1}`).join(', ')}]`).join('\n')}\n`;
      return `node: { id: lb1 }\nfarms:\n${farms.slice(0, 50).join('\n')}\n${farms.slice(0, 50).join('\n')}\n`;
    });
    fc.assert(fc.property(fc.oneof(deep, wide), (text) => {
      const started = performance.now();
      assertResult(parseConfigText(text));
      assert.ok(performance.now() - started < 20_000, `took ${performance.now() - started} ms`);
    }), params(HUGE_RUNS, undefined, HUGE_LONG_CAP));
  });

  const FILE_RUNS = 150;
  it(`loadConfigFile: mutated config files are a config or issues (${runs(FILE_RUNS)} runs)`, { timeout: testTimeout(60_000, FILE_RUNS) }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ha-fuzz-config-'));
    try {
      await fc.assert(fc.asyncProperty(fc.oneof(textMutation, fc.constantFrom(...SEEDS)), async (text) => {
        const path = join(dir, 'config.yaml');
        await writeFile(path, text);
        assertResult(await loadConfigFile(path, { path: '', pluginDirs: [] }));
      }), params(FILE_RUNS, 10_000));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('fuzz: config loader regressions', () => {
  it('regression: a config nested 2000 levels deep is one clear issue, not 800 parser errors', () => {
    for (const text of [`node: { id: lb1 }\nfarms: ${'['.repeat(2000)}`, '{a: '.repeat(5000), `farms: ${'['.repeat(20_000)}${']'.repeat(20_000)}`]) {
      const result = parseConfigText(text);
      assert.equal(result.ok, false);
      assert.deepEqual(!result.ok && result.issues.map((i) => i.message), ['the YAML is nested too deeply to read; a config is a few levels deep']);
    }
  });
});
