// Validates one request line (untrusted: any local user in the socket's group can send it).

import { z } from 'zod';
import { ADMIN_STATES } from '../../config/schema.js';
import type { ErrorBody } from './errors.js';
import { COMMANDS, MAX_EVENTS, NODE_ACTIONS, PROTOCOL_VERSION, type Request, type RequestId } from './protocol.js';

const id = z.union([z.string().max(128), z.number().int().safe()]).optional();
const name = z.string().min(1).max(64);
const base = { v: z.literal(PROTOCOL_VERSION), id };

const schemas = {
  status: z.object({ ...base, cmd: z.literal('status') }).strict(),
  backend: z.object({ ...base, cmd: z.literal('backend'), farm: name, backend: name, admin: z.enum(ADMIN_STATES), local: z.boolean().optional() }).strict(),
  reload: z.object({ ...base, cmd: z.literal('reload') }).strict(),
  rules: z.object({ ...base, cmd: z.literal('rules') }).strict(),
  events: z.object({ ...base, cmd: z.literal('events'), n: z.number().int().min(0).max(MAX_EVENTS).optional(), follow: z.boolean().optional() }).strict(),
  config_push: z.object({ ...base, cmd: z.literal('config_push'), farms: z.array(z.unknown()).max(10_000) }).strict(),
  config_diff: z.object({ ...base, cmd: z.literal('config_diff') }).strict(),
  node: z.object({ ...base, cmd: z.literal('node'), action: z.enum(NODE_ACTIONS) }).strict(),
} satisfies Record<(typeof COMMANDS)[number], z.ZodTypeAny>;

export type ParsedRequest = { ok: true; request: Request } | { ok: false; id: RequestId | null; error: ErrorBody };

const fail = (reqId: RequestId | null, code: ErrorBody['code'], message: string, details?: string[]): ParsedRequest =>
  ({ ok: false, id: reqId, error: { code, message, ...(details ? { details } : {}) } });

/** The request's id if it has a usable one, so even a refused request can be matched to its answer. */
function idOf(data: Record<string, unknown>): RequestId | null {
  const parsed = id.safeParse(data.id);
  return parsed.success && parsed.data !== undefined ? parsed.data : null;
}

export function parseRequest(line: string): ParsedRequest {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch (err) {
    return fail(null, 'bad_json', `the request is not valid JSON (${(err as Error).message}); send one JSON object per line`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return fail(null, 'bad_request', `expected a JSON object like {"v":1,"cmd":"status"}, got ${Array.isArray(data) ? 'an array' : JSON.stringify(data)}`);
  }
  const obj = data as Record<string, unknown>;
  const reqId = idOf(obj);
  if (obj.v !== PROTOCOL_VERSION) {
    return obj.v === undefined
      ? fail(reqId, 'bad_request', `v: missing; this agent speaks protocol version ${PROTOCOL_VERSION}`)
      : fail(reqId, 'unsupported_version', `protocol version ${JSON.stringify(obj.v)} is not supported; this agent speaks ${PROTOCOL_VERSION}`);
  }
  const cmd = obj.cmd;
  if (typeof cmd !== 'string' || !(COMMANDS as readonly string[]).includes(cmd)) {
    const shown = cmd === undefined ? 'missing' : JSON.stringify(cmd).slice(0, 80);
    return fail(reqId, 'unknown_command', `cmd: ${shown} is not a command; expected ${COMMANDS.join(', ')}`);
  }
  const parsed = schemas[cmd as keyof typeof schemas].safeParse(obj);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : cmd;
      if (issue.code === 'unrecognized_keys') return `${path}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
      return `${path}: ${issue.message}`;
    });
    return fail(reqId, 'bad_request', `invalid ${cmd} request: ${details.join('; ')}`, details);
  }
  return { ok: true, request: parsed.data as Request };
}
