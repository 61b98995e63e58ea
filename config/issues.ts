// Turns zod issues into operator-facing `path: message` lines, with "did you mean" for typos.

import { z, type ZodIssue, type ZodTypeAny } from 'zod';
import { describeValue } from './fields.js';
import type { ConfigIssue } from './issue.js';

/** farms[0].backends[1].ip */
export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping', array: 'a list', string: 'a string', number: 'a number', integer: 'a whole number', boolean: 'true or false',
};

/** zod names enum options as "'tcp' | 'udp'". */
const expectedWords = (expected: string): string =>
  TYPE_WORDS[expected] ?? `one of ${expected.split(' | ').map((v) => v.replace(/^'|'$/g, '')).join(', ')}`;

/**
 * Clearer wording for zod's built-in messages. Passed to parse as the contextual map, which zod
 * consults last, so it keeps a schema's own message (`invalid_type_error`) and adds the value seen.
 */
export const errorMap: z.ZodErrorMap = (issue, ctx) => {
  const own = ctx.defaultError !== z.defaultErrorMap(issue, { data: ctx.data, defaultError: '' }).message;
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.received === 'undefined') return { message: 'is required' };
      const expected = own ? ctx.defaultError : `expected ${expectedWords(issue.expected)}`;
      if (issue.received === 'null' && typeof issue.path[issue.path.length - 1] === 'number') return { message: `empty list item; ${expected}` };
      return { message: `${expected}, got ${describeValue(ctx.data)}` };
    }
    case 'invalid_enum_value':
      return { message: `${describeValue(issue.received)} is not one of ${issue.options.join(', ')}` };
    case 'invalid_literal':
      return { message: `${describeValue(ctx.data)} is not ${JSON.stringify(issue.expected)}` };
    case 'too_small':
      if (own) return { message: ctx.defaultError };
      if (issue.type === 'string') return { message: 'cannot be empty' };
      if (issue.type === 'array') return { message: `needs at least ${issue.minimum} item${issue.minimum === 1 ? '' : 's'}` };
      return { message: ctx.defaultError };
    default:
      return { message: ctx.defaultError };
  }
};

export function zodIssues(issues: readonly ZodIssue[], schema: ZodTypeAny, data: unknown): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const at = keysAt(schema, data, issue.path);
      for (const key of issue.keys) out.push({ path: formatPath([...issue.path, key]), message: unknownKeyMessage(key, at) });
    } else if (issue.code === 'invalid_union' && issue.unionErrors.length > 0) {
      // Report the branch that got furthest rather than zod's generic "Invalid input".
      const best = issue.unionErrors.map((e) => e.issues).sort((a, b) => rank(b) - rank(a))[0]!;
      out.push(...zodIssues(best, schema, data));
    } else {
      out.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return out;
}

/** Deeper is better; at equal depth, a branch that got past the type check is better. */
const rank = (issues: readonly ZodIssue[]): number =>
  2 * Math.max(0, ...issues.map((i) => i.path.length)) + (issues.every((i) => i.code === 'invalid_type') ? 0 : 1);

interface KeysAt {
  readonly known: readonly string[];
  /** When the object is one variant of a discriminated union (check types): the others' keys. */
  readonly variant?: { readonly current: string; readonly others: ReadonlyMap<string, readonly string[]> };
}

function unknownKeyMessage(key: string, at: KeysAt): string {
  const owners = at.variant ? [...at.variant.others].filter(([, keys]) => keys.includes(key)).map(([v]) => v) : [];
  if (at.variant && owners.length > 0) return `unknown key for type ${at.variant.current}; only type ${owners.join(' or ')} has it`;
  const hint = closest(key, at.known);
  if (hint) return `unknown key; did you mean "${hint}"?`;
  return at.known.length > 0 ? `unknown key; expected one of ${at.known.join(', ')}` : 'unknown key';
}

type Def = { typeName: string; innerType?: ZodTypeAny; schema?: ZodTypeAny; effect?: { type: string; transform?: (v: unknown, ctx: unknown) => unknown } };

/** The keys an object schema accepts at `path`, following the data through arrays, unions and preprocessing. */
function keysAt(schema: ZodTypeAny, data: unknown, path: readonly (string | number)[]): KeysAt {
  let node: ZodTypeAny | undefined = schema;
  let value: unknown = data;
  let variant: KeysAt['variant'];
  for (let i = 0; i <= path.length && node; ) {
    const def = node._def as Def;
    if (def.typeName === 'ZodDefault' || def.typeName === 'ZodOptional' || def.typeName === 'ZodNullable') { node = def.innerType; continue; }
    if (def.typeName === 'ZodEffects') {
      if (def.effect?.type === 'preprocess' && def.effect.transform) value = def.effect.transform(value, { addIssue: () => {}, path: [] });
      node = def.schema;
      continue;
    }
    if (def.typeName === 'ZodDiscriminatedUnion') {
      const union = node as z.ZodDiscriminatedUnion<string, z.ZodObject<z.ZodRawShape>[]>;
      const current = (value as Record<string, unknown>)?.[union.discriminator];
      const others = new Map([...union.optionsMap].filter(([v]) => v !== current).map(([v, o]) => [String(v), Object.keys(o.shape)]));
      variant = { current: String(current), others };
      node = union.optionsMap.get(current as string);
      continue;
    }
    if (def.typeName === 'ZodUnion') {
      node = (node as z.ZodUnion<[ZodTypeAny]>).options.find((o) => unwrapObject(o));
      continue;
    }
    if (i === path.length) break;
    const part = path[i++]!;
    variant = undefined;
    if (def.typeName === 'ZodArray') node = (node as z.ZodArray<ZodTypeAny>).element;
    else if (def.typeName === 'ZodObject') node = (node as z.AnyZodObject).shape[part];
    else return { known: [] };
    value = (value as Record<string | number, unknown>)?.[part];
  }
  const obj = node && unwrapObject(node);
  return { known: obj ? Object.keys(obj.shape) : [], variant };
}

function unwrapObject(node: ZodTypeAny): z.AnyZodObject | undefined {
  const def = node._def as Def;
  if (def.typeName === 'ZodObject') return node as z.AnyZodObject;
  if (def.innerType) return unwrapObject(def.innerType);
  if (def.schema) return unwrapObject(def.schema);
  return undefined;
}

/**
 * The known key nearest to a typo, if it is close enough to be what was meant: one edit for
 * short keys, more for longer ones (a swap of two letters counts as one edit).
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) { best = candidate; bestDistance = d; }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
