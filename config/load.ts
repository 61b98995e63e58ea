// Raw YAML text -> validated, frozen Config, or every problem as `path: message`. Pure except loadConfigFile.

import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { configSchema, type Config } from './schema.js';
import { errorMap, zodIssues } from './issues.js';
import { semanticIssues, type ConfigIssue } from './semantics.js';

export type ConfigResult =
  | { readonly ok: true; readonly config: Config }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

/** Validates already-parsed data (YAML document, Redis payload) against the schema and cross-field rules. */
export function validateConfig(raw: unknown): ConfigResult {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, issues: [{ path: '(root)', message: 'expected a mapping with node, farms, ...' }] };
  }
  const parsed = configSchema.safeParse(raw, { errorMap });
  if (!parsed.success) return { ok: false, issues: zodIssues(parsed.error.issues, configSchema, raw) };
  const issues = semanticIssues(parsed.data);
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, config: deepFreeze(parsed.data) };
}

export function parseConfigText(text: string): ConfigResult {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => ({ path: e.linePos ? `line ${e.linePos[0].line}` : '(yaml)', message: e.message.split('\n')[0]! })),
    };
  }
  return validateConfig(doc.toJS({ maxAliasCount: 100 }));
}

export async function loadConfigFile(path: string): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return { ok: false, issues: [{ path, message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }] };
  }
  return parseConfigText(text);
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('\n');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
