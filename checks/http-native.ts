// The native http connector (native/http_check.c on native/engine.h, built by native/build.sh
// into dist/native/): plain-HTTP checks that judge only the status, each a socket in the
// engine's epoll set that sends the prebuilt request, reads the status line and resets; results
// come in batches. JavaScript holds a token per check, never its fd, for the reason
// checks/tcp-native.ts gives. Optional: checks/http.ts uses checks/http-net.ts when it is not built.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { CLOSED_EARLY, MALFORMED_STATUS, type HttpConnector, type HttpDone, type HttpExchange } from './http-connector.js';

export interface HttpCheckAddon {
  /** Registers the batch callback and its result buffer (2 × BATCH: token, result): 0 or -errno. */
  init(onResults: (count: number) => void, results: Float64Array): number;
  /** Begins a check: its token (> 0), or -errno when it failed at once. The request is copied. */
  start(ip: string, port: number, request: Uint8Array): number;
  /** Ends a check that has not reported: 0, or -ENOENT (and nothing done) for a token of no check in flight. */
  abort(token: number): number;
  inflight(): number;
  readonly BATCH: number;
  /** `token % SLOTS` is the token's slot, unique among the checks in flight. */
  readonly SLOTS: number;
  /** Results besides a status (100..999) and -errno. */
  readonly CLOSED: number;
  readonly MALFORMED: number;
  /** The longest request it takes. */
  readonly MAX_REQUEST: number;
}

/** dist/checks/http-native.js → dist/native/http_check.node */
export const HTTP_CHECK_ADDON = fileURLToPath(new URL('../native/http_check.node', import.meta.url));

export type HttpAddonLoad = { addon: HttpCheckAddon; error?: undefined } | { addon?: undefined; error: string };

export function loadHttpCheckAddon(path: string = HTTP_CHECK_ADDON): HttpAddonLoad {
  if (process.platform !== 'linux') return { error: `the http check engine needs Linux (epoll), this is ${process.platform}` };
  try {
    const loaded = createRequire(import.meta.url)(path) as Partial<HttpCheckAddon>;
    const usable = typeof loaded.init === 'function' && typeof loaded.start === 'function'
      && typeof loaded.abort === 'function' && typeof loaded.inflight === 'function'
      && [loaded.BATCH, loaded.SLOTS, loaded.CLOSED, loaded.MALFORMED, loaded.MAX_REQUEST].every(Number.isInteger);
    return usable ? { addon: loaded as HttpCheckAddon } : { error: `${path} is not the http check engine (native/build.sh)` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === 'MODULE_NOT_FOUND' ? `${path} is not built (native/build.sh)` : `${path}: ${(err as Error).message}` };
  }
}

/** An exchange as the native engine holds it: its token while in flight, -1 otherwise. */
export interface NativeExchange extends HttpExchange {
  nativeToken: number;
}

/**
 * The checks in flight, by slot (`token % SLOTS`). Results come one batch per loop iteration;
 * the engine has ended every check in the batch before it calls.
 */
export class NativeHttpChecks<C extends NativeExchange> implements HttpConnector<C> {
  readonly mode = 'native';
  private readonly held: Array<C | undefined> = [];
  private readonly results: Float64Array;
  private readonly slots: number;
  /** The batch being delivered: reused, never reallocated. */
  private readonly batch: Array<C | undefined> = [];

  constructor(private readonly addon: HttpCheckAddon, private readonly done: HttpDone<C>) {
    this.results = new Float64Array(2 * addon.BATCH);
    this.slots = addon.SLOTS;
    const err = addon.init((count) => this.deliver(count), this.results);
    if (err !== 0) throw new Error(`http check engine: init failed (${err})`);
  }

  /** Whether the engine can make this exchange: plain HTTP, the status alone, a request it holds. */
  takes(exchange: HttpExchange): boolean {
    return exchange.tls === undefined && exchange.statusOnly && exchange.request.length <= this.addon.MAX_REQUEST;
  }

  start(exchange: C): string | undefined {
    const token = this.addon.start(exchange.target.ip, exchange.target.port, exchange.request);
    if (token < 0) return this.describe(token);
    this.held[token % this.slots] = exchange;
    exchange.nativeToken = token;
    return undefined;
  }

  abort(exchange: C): void {
    if (exchange.nativeToken < 0) return;
    this.addon.abort(exchange.nativeToken);
    this.release(exchange);
  }

  private release(exchange: C): void {
    this.held[exchange.nativeToken % this.slots] = undefined;
    exchange.nativeToken = -1;
  }

  private deliver(count: number): void {
    const { results, batch } = this;
    // First every check in the batch is released, so a handler that aborts a later one of the
    // same batch (or starts a check that takes its slot) finds it ended, not in flight.
    for (let i = 0; i < count; i++) {
      const token = results[2 * i]!;
      const exchange = this.held[token % this.slots];
      if (exchange === undefined || exchange.nativeToken !== token) continue;
      this.release(exchange);
      batch[i] = exchange;
    }
    for (let i = 0; i < count; i++) {
      const exchange = batch[i];
      if (exchange === undefined) continue;
      batch[i] = undefined;
      const result = results[2 * i + 1]!;
      if (result > 0) this.done(exchange, result, undefined, undefined);
      else this.done(exchange, 0, this.describe(result), undefined);
    }
  }

  private describe(result: number): string {
    if (result === this.addon.CLOSED) return CLOSED_EARLY;
    if (result === this.addon.MALFORMED) return MALFORMED_STATUS;
    try {
      return getSystemErrorName(result);
    } catch {
      return `error ${result}`;
    }
  }
}
