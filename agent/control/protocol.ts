// The control protocol, v1: one JSON object per line each way over the Unix socket. Types and
// limits only (no zod), so agentctl loads fast; request validation lives in request.ts.
//
// request:  {"v":1,"id":7,"cmd":"status"}
//           {"v":1,"id":8,"cmd":"backend","farm":"web","backend":"b1","admin":"drain"}
//           {"v":1,"cmd":"reload"}  {"v":1,"cmd":"rules"}  {"v":1,"cmd":"events","n":20,"follow":true}
// response: {"v":1,"id":7,"ok":true,"result":{...}} or {"v":1,"id":7,"ok":false,"error":{"code","message"}}
// events --follow: the result, then one {"v":1,"id":..,"ok":true,"event":{...}} line per event.
// Requests on one connection are answered in order; a connection may carry many.

import type { AdminState } from '../../config/schema.js';
import type { ErrorBody } from './errors.js';
import type { EventRecord } from './events.js';
import type { Status } from './status.js';

export const PROTOCOL_VERSION = 1;
/** A request line longer than this is refused and the connection closed (a config push of a
 * thousand farms fits with room to spare). */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
export const COMMANDS = ['status', 'backend', 'reload', 'rules', 'events', 'config_push', 'config_diff', 'node'] as const;
export type CommandName = (typeof COMMANDS)[number];
export const MAX_EVENTS = 1000;
/** Events returned when a request gives no `n`. */
export const DEFAULT_EVENTS = 20;

export type RequestId = string | number;

export type Request =
  | { readonly v: 1; readonly id?: RequestId; readonly cmd: 'status' }
  | { readonly v: 1; readonly id?: RequestId; readonly cmd: 'backend'; readonly farm: string; readonly backend: string; readonly admin: AdminState; readonly local?: boolean }
  | { readonly v: 1; readonly id?: RequestId; readonly cmd: 'reload' }
  | { readonly v: 1; readonly id?: RequestId; readonly cmd: 'rules' }
  | { readonly v: 1; readonly id?: RequestId; readonly cmd: 'events'; readonly n?: number; readonly follow?: boolean }
  /** The shared part of a config (its farms, as parsed YAML), validated again by the agent. */
  | { readonly v: 1; readonly id?: RequestId; readonly cmd: 'config_push'; readonly farms: readonly unknown[] }
  | { readonly v: 1; readonly id?: RequestId; readonly cmd: 'config_diff' }
  /** With bgp: withdraw every VIP from this node (drain) or announce them again (enable). */
  | { readonly v: 1; readonly id?: RequestId; readonly cmd: 'node'; readonly action: NodeAction };

/** A request without its version, as a client builds it (the client adds `v`). */
export type RequestBody = Request extends infer R ? (R extends unknown ? Omit<R, 'v'> : never) : never;

export interface BackendResult {
  readonly farm: string;
  readonly backend: string;
  readonly from: AdminState;
  readonly admin: AdminState;
  /** From the request to the rules being in the kernel. */
  readonly applied_ms: number;
  readonly in_chain: boolean;
  readonly share: number;
  /** What the operator may not expect of this action on this farm (dsr/tunnel drain). */
  readonly note?: string;
}

export interface ReloadResult {
  /** Farms whose rules were rewritten. */
  readonly changed: readonly string[];
}

export interface RulesResult {
  readonly driver: string;
  readonly text: string;
  readonly in_sync: boolean;
  readonly differences: readonly string[];
}

export interface EventsResult {
  readonly events: readonly EventRecord[];
}

export interface ConfigPushResult {
  readonly revision: number;
}

export interface ConfigDiffResult {
  /** The shared config revision this node runs (0: none yet). */
  readonly running_revision: number;
  readonly cluster_revision: number | null;
  /** Farm names only in the local file, only in the cluster's config, or defined differently. */
  readonly only_local: readonly string[];
  readonly only_cluster: readonly string[];
  readonly different: readonly string[];
}

export const NODE_ACTIONS = ['drain', 'enable'] as const;
export type NodeAction = (typeof NODE_ACTIONS)[number];

export interface NodeResult {
  readonly state: 'drained' | 'enabled';
  /** The prefixes this node announces now. */
  readonly announced: readonly string[];
}

export interface ResultOf {
  status: Status;
  backend: BackendResult;
  reload: ReloadResult;
  rules: RulesResult;
  events: EventsResult;
  config_push: ConfigPushResult;
  config_diff: ConfigDiffResult;
  node: NodeResult;
}

export type Response =
  | { readonly v: 1; readonly id: RequestId | null; readonly ok: true; readonly result: unknown }
  | { readonly v: 1; readonly id: RequestId | null; readonly ok: true; readonly event: EventRecord }
  | { readonly v: 1; readonly id: RequestId | null; readonly ok: false; readonly error: ErrorBody };

export const okResponse = (id: RequestId | null, result: unknown): Response => ({ v: PROTOCOL_VERSION, id, ok: true, result });
export const errorResponse = (id: RequestId | null, error: ErrorBody): Response => ({ v: PROTOCOL_VERSION, id, ok: false, error });
export const eventResponse = (id: RequestId | null, event: EventRecord): Response => ({ v: PROTOCOL_VERSION, id, ok: true, event });
