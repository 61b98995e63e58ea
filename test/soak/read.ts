// Reads a soak history (JSON lines) back into records, validated against the format in
// history.ts: a history is re-checked long after the run, possibly by a newer checker, so a line
// that does not say what the checker expects is an error naming its line and field, never a
// silently skipped or half-understood record.

import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { HistoryRecord } from './history.js';

const t = z.number().finite().nonnegative();
const name = z.string().min(1);
const admin = z.enum(['enabled', 'drain', 'maintenance']);
const state = z.enum(['up', 'down']);

const bounds = z.object({
  detectionMs: t, applyMs: t, failoverMs: t, repairMs: t, settleMs: t, conntrackSyncMs: t.optional(), resyncMs: t.optional(), streamTimeoutMs: t.optional(), pollMs: t.optional(),
}).strict();

const run = z.object({
  kind: z.literal('run'), t, seed: z.number().int(), minutes: z.number().nonnegative(),
  mode: z.enum(['dnat', 'snat', 'dsr', 'tunnel']), conntrackd: z.boolean(),
  lbs: z.array(name).min(1),
  farms: z.array(z.object({
    name, vip: z.string(), backends: z.array(name).min(1), weights: z.record(z.number().nonnegative()).optional(),
  }).strict()),
  bounds, cutOnDown: z.boolean().optional(),
  topology: z.enum(['pair', 'active-active']).optional(), shareTolerance: z.number().min(0).max(1).optional(),
}).strict();

const fault = z.object({
  kind: z.literal('fault'), t, id: z.number().int(),
  fault: z.enum(['backend-kill', 'backend-blackhole', 'backend-slow', 'agent-sigkill', 'agent-sigstop', 'agent-sighup-valid',
    'agent-sighup-invalid', 'keepalived-kill', 'redis-kill', 'redis-restart-empty', 'redis-partition', 'vrrp-link-cut',
    'rules-flush', 'lb-silent', 'bird-kill']),
  target: name, phase: z.enum(['start', 'end', 'point']),
}).strict();

const op = z.object({
  kind: z.literal('op'), t, sent: t.optional(), node: name, action: z.enum(['drain', 'maintenance', 'enable', 'push-valid', 'push-invalid']),
  farm: name.optional(), backend: name.optional(), ok: z.boolean(), error: z.string().optional(),
}).strict();

const conn = z.object({
  kind: z.literal('conn'), t, end: t, farm: name, ok: z.boolean(), port: z.number().int().min(1).max(65_535).optional(), backend: name.optional(), error: z.string().optional(),
}).strict();

const stream = z.object({
  kind: z.literal('stream'), t, id: z.number().int(), farm: name, phase: z.enum(['open', 'close', 'break']),
  backend: name.optional(), error: z.string().optional(),
}).strict();

const health = z.object({ kind: z.literal('health'), t, node: name, farm: name, backend: name, state, admin }).strict();
const vip = z.object({ kind: z.literal('vip'), t, node: name, holds: z.boolean() }).strict();
const exit = z.object({
  kind: z.literal('exit'), t, node: name, process: z.enum(['agent', 'keepalived', 'conntrackd', 'redis', 'bird']),
  code: z.number().int().nullable(), signal: z.string().nullable(),
}).strict();
const log = z.object({ kind: z.literal('log'), t, node: name, level: z.string(), msg: z.string(), line: z.string() }).strict();

const shares = z.record(z.number().min(0).max(1));
const final = z.object({
  kind: z.literal('final'), t,
  truth: z.record(z.record(z.boolean())),
  nodes: z.array(z.object({
    node: name,
    kernel: z.record(shares),
    digest: z.record(z.string()).optional(),
    status: z.record(z.record(z.object({ state, admin }).strict())),
  }).strict()),
}).strict();
const end = z.object({ kind: z.literal('end'), t }).strict();

const record = z.discriminatedUnion('kind', [run, fault, op, conn, stream, health, vip, exit, log, final, end]);

// The schema must produce what history.ts declares: a field added to one and not the other fails the build.
type Parsed = z.infer<typeof record>;
const sameShape: (p: Parsed) => HistoryRecord = (p) => p;
void sameShape;

/** A history line that is not a record: its 1-based line number and what is wrong. */
export class HistoryFormatError extends Error {
  constructor(readonly source: string, readonly line: number, readonly problem: string) {
    super(`${source}:${line}: ${problem}`);
    this.name = 'HistoryFormatError';
  }
}

/** Parses one line; throws HistoryFormatError naming the line and the field. */
export function parseRecord(text: string, line: number, source = 'history'): HistoryRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HistoryFormatError(source, line, `not JSON: ${(err as Error).message}`);
  }
  const result = record.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue === undefined || issue.path.length === 0 ? '(record)' : issue.path.join('.');
    throw new HistoryFormatError(source, line, `${path}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

/** Parses a whole JSON-lines text; a blank last line is allowed, a blank line elsewhere is not. */
export function parseHistory(text: string, source = 'history'): HistoryRecord[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l, i) => {
    if (l.trim() === '') throw new HistoryFormatError(source, i + 1, 'empty line');
    return parseRecord(l, i + 1, source);
  });
}

/** Reads and parses a history file. */
export async function readHistory(path: string): Promise<HistoryRecord[]> {
  return parseHistory(await readFile(path, 'utf8'), path);
}
