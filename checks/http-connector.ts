// What an http check needs of a way to make the exchange, so each way (the native engine, a
// socket in JavaScript) is one small file behind the same two calls, and checks/http.ts owns the
// request, the timeouts and the verdicts.

import type { SecureContext } from 'node:tls';
import type { CheckTarget } from './types.js';

/** native: status-only plain HTTP in C (checks/http-native.ts); net: net/tls sockets (checks/http-net.ts). */
export type HttpMode = 'native' | 'net';

/** TLS settings of one https check config, and the sessions it resumes. */
export interface HttpTls {
  /** SNI; never an IP (RFC 6066). */
  readonly servername: string | undefined;
  readonly verify: boolean;
  /**
   * One per check config: tls.connect would otherwise build an OpenSSL context per check, the
   * trusted roots loaded into it each time, which cost more than the handshake itself.
   */
  readonly context: SecureContext;
  /**
   * The last session ticket of each backend: a check resumes it, as HAProxy's checks reuse the
   * server's session, instead of a full handshake per check.
   */
  readonly sessions: WeakMap<CheckTarget, Buffer>;
}

/** One exchange as a connector sees it; the connector keeps its own hold on it in its own fields. */
export interface HttpExchange {
  readonly target: CheckTarget;
  /** The request bytes, built once per target. */
  readonly request: Buffer;
  /** Set for https. */
  readonly tls: HttpTls | undefined;
  /** Whether the body is read after this status (a body regex, and the status passed). */
  wantsBody(status: number): boolean;
  /** No body regex: the status alone decides, so nothing after the status line is read. */
  readonly statusOnly: boolean;
  /** A HEAD request: the answer has no body, whatever its headers say. */
  readonly head: boolean;
}

/** The body as read: at most BODY_LIMIT bytes as text, and whether there was more. */
export interface HttpBody {
  readonly text: string;
  readonly cut: boolean;
}

/**
 * Told once per exchange that was not aborted: the status (and the body, when `wantsBody` asked
 * for it), or status 0 and the failure in words.
 */
export type HttpDone<C extends HttpExchange> = (exchange: C, status: number, failure: string | undefined, body: HttpBody | undefined) => void;

export interface HttpConnector<C extends HttpExchange> {
  readonly mode: HttpMode;
  /**
   * Begins the exchange; `done` hears how it went, never from inside this call. Returns the
   * failure instead when it failed at once (then `done` is not called).
   */
  start(exchange: C): string | undefined;
  /** Gives up an exchange in flight (a timeout, a cancel); `done` is not called. A no-op once it has ended. */
  abort(exchange: C): void;
}

/** Failures both connectors name the same way. */
export const CLOSED_EARLY = 'closed before a complete status line';
export const MALFORMED_STATUS = 'malformed status line';
