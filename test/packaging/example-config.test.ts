// The example /etc/ha-agent/config.yaml (packaging/config.yaml) documents every key the schema
// knows and nothing else: with its "#key: value" lines uncommented, its keys are exactly the
// schema's (a key added to config/schema.ts fails here until it is documented), each example
// value is valid for its key, and a default shown in an enabled section is the schema's default.
// As shipped it is a valid config that manages nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { configSchema } from '../../config/schema.js';
import { loadConfigFile } from '../../config/load.js';
import { repoPath } from '../support/repo.js';

const EXAMPLE = repoPath('packaging/config.yaml');
const text = readFileSync(EXAMPLE, 'utf8');

/** A disabled setting: "#" right before YAML (a key, or a list item), at any indentation. */
const DISABLED = /^(\s*)#( *(?:- |[a-z_]+:(?: |$)))/;

/**
 * The example with every disabled setting enabled. `key: []` followed by disabled items of that
 * list becomes `key:`, so that the items fill it.
 */
export function uncomment(source: string): string {
  const lines = source.split('\n');
  return lines.map((line, i) => {
    const disabled = DISABLED.exec(line);
    if (disabled) return line.replace(DISABLED, '$1$2');
    const empty = /^(\s*[a-z_]+):\s*\[\]\s*$/.exec(line);
    const next = lines.slice(i + 1).find((l) => DISABLED.test(l) || !/^\s*(#.*)?$/.test(l));
    return empty && next !== undefined && /^\s*# *- /.test(next) ? `${empty[1]}:` : line;
  }).join('\n');
}

/** Peels wrappers (default, optional, effects, pipelines) off a zod schema. */
function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  for (;;) {
    if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) schema = schema._def.innerType;
    else if (schema instanceof z.ZodEffects) schema = schema._def.schema;
    else if (schema instanceof z.ZodPipeline) schema = schema._def.in;
    else return schema;
  }
}

/** The object shapes a node may take (a discriminated union: each option's). */
function shapes(schema: z.ZodTypeAny): z.ZodRawShape[] {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) return [inner.shape as z.ZodRawShape];
  if (inner instanceof z.ZodDiscriminatedUnion || inner instanceof z.ZodUnion) {
    return (inner.options as z.ZodTypeAny[]).flatMap(shapes);
  }
  return [];
}

const element = (schema: z.ZodTypeAny): z.ZodTypeAny | undefined => {
  const inner = unwrap(schema);
  return inner instanceof z.ZodArray ? inner.element : undefined;
};

/** Every key path of the schema, lists written `[]`: `farms[].check.path`. */
function schemaPaths(schema: z.ZodTypeAny, prefix = ''): Set<string> {
  const out = new Set<string>();
  const item = element(schema);
  if (item) return schemaPaths(item, `${prefix}[]`);
  for (const shape of shapes(schema)) {
    for (const [key, child] of Object.entries(shape)) {
      const path = prefix ? `${prefix}.${key}` : key;
      out.add(path);
      for (const p of schemaPaths(child, path)) out.add(p);
    }
  }
  return out;
}

interface Found {
  path: string;
  value: unknown;
  /** The key's schema (the first union option that has the key), undefined when none has it. */
  schema: z.ZodTypeAny | undefined;
  /** Every union option's schema for the key: a value is valid when one accepts it. */
  options: z.ZodTypeAny[];
}

/** Every key of a YAML document with the schema of its path (undefined: the schema has no such key). */
function documentKeys(value: unknown, schema: z.ZodTypeAny | undefined, prefix = ''): Found[] {
  if (Array.isArray(value)) {
    const item = schema && element(schema);
    return value.flatMap((v) => documentKeys(v, item, `${prefix}[]`));
  }
  if (value === null || typeof value !== 'object') return [];
  const candidates = schema ? shapes(schema) : [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, v]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    const options = candidates.flatMap((shape) => (key in shape ? [shape[key]!] : []));
    const child = options[0];
    return [{ path, value: v, schema: child, options }, ...(child ? documentKeys(v, child, path) : [])];
  });
}

const full = parse(uncomment(text)) as unknown;
const found = documentKeys(full, configSchema);

test('as shipped, the example is a valid config with no farm', async () => {
  const result = await loadConfigFile(EXAMPLE);
  assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues));
  assert.equal(result.config.farms.length, 0);
});

test('uncommented, the example names every key of the schema', () => {
  const documented = new Set(found.map((f) => f.path));
  const missing = [...schemaPaths(configSchema)].filter((p) => !documented.has(p));
  assert.deepEqual(missing, [], `packaging/config.yaml does not document: ${missing.join(', ')}`);
});

test('uncommented, every key of the example is a key of the schema, with a valid value', () => {
  const unknown = found.filter((f) => f.schema === undefined).map((f) => f.path);
  assert.deepEqual(unknown, [], `packaging/config.yaml documents keys the schema does not have: ${unknown.join(', ')}`);
  for (const f of found) {
    if (f.schema === undefined || shapes(f.schema).length > 0 || element(f.schema)) continue;
    const results = f.options.map((option) => option.safeParse(f.value));
    const why = results.flatMap((r) => (r.success ? [] : r.error.issues.map((i) => i.message))).join('; ');
    assert.ok(results.some((r) => r.success), `${f.path}: ${JSON.stringify(f.value)}: ${why}`);
  }
});

test('a default shown in an enabled section is the schema\'s default', () => {
  const shipped = parse(text) as Record<string, unknown>;
  const enabled = new Set(documentKeys(shipped, configSchema).map((f) => f.path));
  let compared = 0;
  for (const f of found) {
    const parent = f.path.includes('.') ? f.path.slice(0, f.path.lastIndexOf('.')) : '';
    // Top-level sections and list items that are commented out are examples, not defaults.
    if (enabled.has(f.path) || parent === '' || parent.includes('[]') || !enabled.has(parent)) continue;
    if (!(f.schema instanceof z.ZodDefault)) continue;
    assert.deepEqual(f.schema.parse(f.value), f.schema.parse(undefined), `${f.path}: the example shows ${JSON.stringify(f.value)}, the default differs`);
    compared++;
  }
  assert.ok(compared >= 7, `only ${compared} defaults compared`);
});
