// Raw YAML text -> validated, frozen Config, or every problem as `path: message`. Pure except
// loadConfigFile, which also checks what the config asks of this machine (config/host.ts).

import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import type { ZodTypeAny } from 'zod';
import { describeValue } from './fields.js';
import { hostIssues } from './host.js';
import { errorMap, zodIssues } from './issues.js';
import type { CheckSearch } from './program.js';
import { clusterSchema, configSchema, conntrackdSchema, farmSchema, vrrpSchema, type Config } from './schema.js';
import { semanticIssues, type ConfigIssue, type ConfigParts } from './semantics.js';

export type ConfigResult =
  /** `raw` is the data as parsed, before defaults: what a cluster config push shares. */
  | { readonly ok: true; readonly config: Config; readonly raw: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

const ROOT = '(root)';
const TOP = 'a mapping with node and farms';

/** Validates already-parsed data (YAML document, Redis payload) against the schema and cross-field rules. */
export function validateConfig(raw: unknown): ConfigResult {
  if (raw === null || raw === undefined) return { ok: false, issues: [{ path: ROOT, message: `the config is empty; expected ${TOP}` }] };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, issues: [{ path: ROOT, message: `expected ${TOP}, got ${describeValue(raw)}` }] };
  }
  const parsed = configSchema.safeParse(raw, { errorMap });
  if (!parsed.success) {
    // Cross-field rules still run on the parts the schema accepted, so one run shows every error.
    const issues = [...zodIssues(parsed.error.issues, configSchema, raw), ...semanticIssues(salvage(raw as Record<string, unknown>))];
    return { ok: false, issues };
  }
  const issues = semanticIssues(parsed.data);
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, config: deepFreeze(parsed.data), raw: raw as Record<string, unknown> };
}

function salvage(raw: Record<string, unknown>): ConfigParts {
  const part = <T extends ZodTypeAny>(schema: T, value: unknown): T['_output'] | undefined => {
    const result = schema.safeParse(value);
    return result.success ? result.data : undefined;
  };
  return {
    farms: Array.isArray(raw.farms) ? raw.farms.map((farm) => part(farmSchema, farm)) : [],
    dataplane: part(configSchema.shape.dataplane, raw.dataplane),
    // null, not undefined: a vrrp section the schema rejected is still there for conntrackd's rule.
    vrrp: raw.vrrp === undefined ? undefined : part(vrrpSchema, raw.vrrp) ?? null,
    conntrackd: raw.conntrackd === undefined ? undefined : part(conntrackdSchema, raw.conntrackd),
    cluster: raw.cluster === undefined ? undefined : part(clusterSchema, raw.cluster),
    node: part(configSchema.shape.node, raw.node),
  };
}

export function parseConfigText(text: string): ConfigResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  // Too deep to parse: the parser's follow-on errors (hundreds, one per level) only bury that.
  const exhausted = doc.errors.find((e) => e.code === 'RESOURCE_EXHAUSTION');
  if (exhausted) return { ok: false, issues: [yamlIssue(exhausted, text, lines)] };
  if (doc.errors.length > 0) return { ok: false, issues: doc.errors.map((e) => yamlIssue(e, text, lines)) };
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An alias bomb ("billion laughs") stops here instead of eating the heap.
    return { ok: false, issues: [{ path: ROOT, message: `cannot expand the YAML: ${(err as Error).message}` }] };
  }
  return validateConfig(raw);
}

function yamlIssue(error: YAMLError, text: string, lines: LineCounter): ConfigIssue {
  const { line, col } = lines.linePos(error.pos[0]);
  const path = `line ${line}, column ${col}`;
  switch (error.code) {
    case 'DUPLICATE_KEY':
      return { path, message: `duplicate key ${JSON.stringify(/^("[^"]*"|'[^']*'|[^:,{}[\]\n]*)/.exec(text.slice(error.pos[0]))![1]!.trim())}` };
    case 'MULTIPLE_DOCS':
      return { path, message: 'a second YAML document ("---"); the config is one document' };
    case 'TAB_AS_INDENT':
      return { path, message: 'a tab in the indentation; indent YAML with spaces' };
    case 'RESOURCE_EXHAUSTION':
      return { path, message: 'the YAML is nested too deeply to read; a config is a few levels deep' };
    default:
      return { path, message: error.message.split('\n')[0]! };
  }
}

/**
 * The config in a file, checked against this machine too: check-config, run and reload all load
 * through here. `search` is where programs are looked for (tests point it elsewhere). With
 * `sharedFarms` (the cluster's), those replace the file's farms before the machine is checked,
 * so what is checked is what would run.
 */
export async function loadConfigFile(path: string, search: CheckSearch = {}, sharedFarms: readonly unknown[] | null = null): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : code ?? (err as Error).message;
    return { ok: false, issues: [{ path, message: `cannot read the config: ${reason}` }] };
  }
  const result = withSharedFarms(parseConfigText(text), sharedFarms);
  if (!result.ok) return result;
  const issues = await hostIssues(result.config, search);
  return issues.length > 0 ? { ok: false, issues } : result;
}

/** One `path: message` line per issue (check-config's output, the control API's details). */
export function issueLines(issues: readonly ConfigIssue[]): string[] {
  return issues.map((i) => `${i.path}: ${i.message}`);
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issueLines(issues).join('\n');
}

/** The file's config with the cluster's shared farms in place of its own (null: none shared). */
export function withSharedFarms(result: ConfigResult, farms: readonly unknown[] | null): ConfigResult {
  if (!result.ok || farms === null) return result;
  return validateConfig({ ...result.raw, farms });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
