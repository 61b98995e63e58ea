// Everything read from Redis is untrusted input: these schemas decide what is accepted, with a
// reason for what is not. Nothing read here reaches a command line unvalidated.

import { z } from 'zod';
import { ADMIN_STATES, NODE_ID } from '../../config/schema.js';
import { VRRP_STATES } from '../vrrp/state.js';
import { MAX_REVISION } from './order.js';

/** Revisions are millisecond-scale hybrid clocks (order.ts); one far beyond that is garbage. */
const revision = z.number().int().positive().max(MAX_REVISION);

/** Hash field names (farm/backend) are checked as the state files' keys are. */
export { isBackendKey } from '../state/store.js';

/** Values above this size are refused before parsing (a hostile or broken writer). */
export const MAX_VALUE_BYTES = 256 * 1024;

export const actionSchema = z.object({
  admin: z.enum(ADMIN_STATES),
  rev: revision,
  node: z.string().regex(NODE_ID),
  at: z.number().int().nonnegative(),
}).strict();
export type ActionRecord = z.infer<typeof actionSchema>;

export const heartbeatSchema = z.object({
  node: z.string().regex(NODE_ID),
  version: z.string().max(64),
  vrrp: z.enum(VRRP_STATES),
  virtual_router_id: z.number().int().min(1).max(255).nullable(),
  config_revision: z.number().int().nonnegative().max(MAX_REVISION),
  config_error: z.string().max(4096).nullable(),
  last_apply: z.number().int().nonnegative().nullable(),
  at: z.number().int().nonnegative(),
}).strict();
export type Heartbeat = z.infer<typeof heartbeatSchema>;

export const healthValue = z.enum(['up', 'down', 'unknown']);
export const adminValue = z.enum(ADMIN_STATES);

export const sharedConfigSchema = z.object({
  rev: revision,
  node: z.string().regex(NODE_ID),
  at: z.number().int().nonnegative(),
  /** The shared part of the config (farms), as parsed YAML: validated again by each node. */
  farms: z.array(z.unknown()).max(10_000),
}).strict();
export type SharedConfig = z.infer<typeof sharedConfigSchema>;

export const noteSchema = z.object({
  type: z.enum(['action', 'health', 'config', 'heartbeat']),
  node: z.string().regex(NODE_ID),
  rev: z.number().int().nonnegative().max(MAX_REVISION).optional(),
}).strict();
export type Note = z.infer<typeof noteSchema>;

/** The longest rejection reason kept. */
const MAX_REASON = 200;

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Parses a JSON string from Redis against a schema; never throws. */
export function parseValue<T>(schema: z.ZodType<T>, raw: unknown): Parsed<T> {
  if (typeof raw !== 'string') return { ok: false, reason: `expected a string, got ${typeof raw}` };
  if (raw.length > MAX_VALUE_BYTES) return { ok: false, reason: `value of ${raw.length} bytes is over the ${MAX_VALUE_BYTES} limit` };
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const result = schema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    // zod quotes the value it refused: cut, so a hostile value does not fill the logs.
    const reason = `${issue.path.join('.') || '(value)'}: ${issue.message}`;
    return { ok: false, reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON)}...` : reason };
  }
  return { ok: true, value: result.data };
}
