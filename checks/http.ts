// HTTP(S) probe: one request per check, status against ranges, optional body regex.
//
// Thousands of checks a second make the per-check cost what matters. Node's http module spends,
// per check, a ClientRequest, an IncomingMessage, a parser, header objects and a dozen callbacks,
// and cost about three times HAProxy's CPU (`option httpchk`). So the request is built once per
// backend, one timer serves all timeouts (checks/tcp-timeouts.ts), the common message is built
// once per backend and status, and the exchange is made by the cheapest connector that can make
// it (checks/http-connector.ts):
// - native (checks/http-native.ts, native/http_check.c): plain HTTP judged on the status alone
//   (no expect_body), which is what most checks are: a socket in C that sends the request, reads
//   the status line and resets, results in batches. It measured at HAProxy's cost, where a lean
//   JavaScript connector (net.Socket and the reader below, no http module) still cost about twice
//   HAProxy's CPU: the socket handle, stream and callbacks per check remain (bench/RESULTS.md).
// - net (checks/http-net.ts): a socket in JavaScript and a small response reader
//   (checks/http-response.ts): https (one TLS context per config, sessions resumed per backend,
//   as HAProxy's checks do), bodies to match, what the engine does not take, and everything where
//   the engine is not built.
// The status line is read by the same rule either way, so the verdicts do not depend on the way.

import net from 'node:net';
import { ABORTED } from './errors.js';
import type { HttpBody, HttpConnector, HttpMode, HttpTls } from './http-connector.js';
import { loadHttpCheckAddon, NativeHttpChecks, type HttpAddonLoad, type NativeExchange } from './http-native.js';
import { HttpNetConnector, type NetExchange } from './http-net.js';
import { BODY_LIMIT } from './http-response.js';
import { Spec, statusMatches, type HttpCheckConfig } from './http-spec.js';
import { Timeouts, type Timed } from './tcp-timeouts.js';
import type { CheckResult, CheckTarget, DirectProbe, Probe, ProbeAttempt, ProbeDone } from './types.js';

export { BODY_LIMIT };
export { buildRequest, formatStatusRanges, statusMatches, type HttpCheckConfig } from './http-spec.js';
export type { HttpMode } from './http-connector.js';

class Exchange implements ProbeAttempt, Timed, NativeExchange, NetExchange {
  prev: Timed | undefined = undefined;
  next: Timed | undefined = undefined;
  list: Timed['list'] = undefined;
  /** The connector holding this exchange while it is in flight. */
  via: HttpConnector<Exchange> | undefined = undefined;
  nativeToken = -1;
  raw: net.Socket | undefined = undefined;
  top: net.Socket | undefined = undefined;
  settled = false;
  readonly deadline: number;
  readonly head: boolean;
  readonly statusOnly: boolean;

  constructor(
    readonly spec: Spec,
    readonly target: CheckTarget,
    readonly request: Buffer,
    readonly tls: HttpTls | undefined,
    readonly timeoutMs: number,
    readonly token: unknown,
    readonly done: ProbeDone<unknown>,
    readonly started: number,
  ) {
    this.deadline = started + timeoutMs;
    this.head = spec.head;
    this.statusOnly = spec.bodyRe === undefined;
  }

  wantsBody(status: number): boolean {
    return this.spec.bodyRe !== undefined && statusMatches(status, this.spec.check.expect_status);
  }
}

const timeouts = new Timeouts<Exchange>((exchange) => {
  abandon(exchange);
  settle(exchange, false, `timed out after ${exchange.timeoutMs} ms`);
});

function abandon(exchange: Exchange): void {
  exchange.via?.abort(exchange);
  exchange.via = undefined;
}

function result(spec: Spec, target: CheckTarget, started: number, ok: boolean, detail: string): CheckResult {
  return { ok, message: spec.wording(target).prefix + detail, latencyMs: performance.now() - started };
}

/** Reports once; `message` whole (the prefix included). */
function settleWith(exchange: Exchange, ok: boolean, message: string): void {
  if (exchange.settled) return;
  exchange.settled = true;
  timeouts.drop(exchange);
  exchange.done(exchange.token, { ok, message, latencyMs: performance.now() - exchange.started }, exchange);
}

function settle(exchange: Exchange, ok: boolean, detail: string): void {
  settleWith(exchange, ok, exchange.spec.wording(exchange.target).prefix + detail);
}

/** The verdict on an answer, in the words the http module's probe used. */
function judge(exchange: Exchange, status: number, body: HttpBody | undefined): void {
  const { spec } = exchange;
  if (!statusMatches(status, spec.check.expect_status)) return settle(exchange, false, `status ${status} not in ${spec.expected}`);
  const re = spec.bodyRe;
  if (re === undefined) {
    // The common verdict: one string per backend, rebuilt only when its status changes.
    const w = spec.wording(exchange.target);
    if (w.status !== status) {
      w.status = status;
      w.message = `${w.prefix}status ${status}`;
    }
    return settleWith(exchange, true, w.message);
  }
  const text = body?.text ?? '';
  if (re.test(text)) return settle(exchange, true, `status ${status}, body matches /${re.source}/`);
  const scope = body?.cut ? ` in the first ${BODY_LIMIT / 1024} KiB` : '';
  return settle(exchange, false, `status ${status}, body does not match /${re.source}/${scope}`);
}

/** The one callback every connector reports to. */
function onAnswer(exchange: Exchange, status: number, failure: string | undefined, body: HttpBody | undefined): void {
  exchange.via = undefined;
  if (failure !== undefined) settle(exchange, false, failure);
  else judge(exchange, status, body);
}

const netConnector = new HttpNetConnector<Exchange>(onAnswer);

interface Engine {
  readonly native: NativeHttpChecks<Exchange> | undefined;
  /** Why the native engine is not in use, when it is not. */
  readonly fallback: string | undefined;
}

function openNative(load: () => HttpAddonLoad): Engine {
  const loaded = load();
  if (loaded.addon === undefined) return { native: undefined, fallback: loaded.error };
  try {
    return { native: new NativeHttpChecks<Exchange>(loaded.addon, onAnswer), fallback: undefined };
  } catch (err) {
    // An engine that will not start (no epoll fd to be had) leaves the JavaScript connector.
    return { native: undefined, fallback: (err as Error).message };
  }
}

/** The engine is one per process (its addon initialises once), opened by the first check that wants it. */
let processEngine: Engine | undefined;

const MODES: readonly HttpMode[] = ['native', 'net'];
const asked = process.env.HA_AGENT_HTTP_PROBE;
const askedMode = MODES.find((m) => m === asked);

export interface HttpProbeOptions {
  /** native (default, or HA_AGENT_HTTP_PROBE's for diagnosis): the engine where it can; net: never. */
  readonly mode?: HttpMode;
  /** Tests load an engine of their own; the agent's is loaded once per process. */
  readonly load?: () => HttpAddonLoad;
}

function engineFor(options: HttpProbeOptions): Engine {
  if ((options.mode ?? askedMode ?? 'native') === 'net') return { native: undefined, fallback: 'net mode asked for' };
  const load = options.load ?? loadHttpCheckAddon;
  if (load !== loadHttpCheckAddon) return openNative(load);
  return (processEngine ??= openNative(load));
}

const validPort = (port: number): boolean => Number.isInteger(port) && port > 0 && port < 65_536;

/** Settles on a microtask: `done` never runs inside `start` or `cancel`. */
function failSoon<T>(spec: Spec, target: CheckTarget, started: number, detail: string, token: T, done: ProbeDone<T>, attempt: ProbeAttempt): void {
  const outcome = result(spec, target, started, false, detail);
  queueMicrotask(() => done(token, outcome, attempt));
}

/** Builds the probe for one http/https check config: regex, request and TLS settings are prepared once. */
export function httpProbe(check: HttpCheckConfig, options: HttpProbeOptions = {}): Probe {
  const spec = new Spec(check);
  let engine: Engine | undefined;
  const direct: DirectProbe = {
    start<T>(target: CheckTarget, timeoutMs: number, token: T, done: ProbeDone<T>): ProbeAttempt {
      const started = performance.now();
      const request = spec.request(target);
      const tls = spec.tls();
      if (request instanceof Error || tls instanceof Error) {
        const attempt: ProbeAttempt = { target };
        failSoon(spec, target, started, (request instanceof Error ? request : (tls as Error)).message, token, done, attempt);
        return attempt;
      }
      const exchange = new Exchange(spec, target, request, tls, timeoutMs, token, done as ProbeDone<unknown>, started);
      const native = (engine ??= engineFor(options)).native;
      const via: HttpConnector<Exchange> = native !== undefined && native.takes(exchange) && validPort(target.port)
        && net.isIP(target.ip) !== 0 ? native : netConnector;
      const error = via.start(exchange);
      if (error !== undefined) {
        exchange.settled = true;
        failSoon(spec, target, started, error, token, done, exchange);
      } else {
        exchange.via = via;
        timeouts.add(exchange);
      }
      return exchange;
    },
    cancel(pending: ProbeAttempt): void {
      if (!(pending instanceof Exchange) || pending.settled) return;
      abandon(pending);
      pending.settled = true;
      timeouts.drop(pending);
      failSoon(spec, pending.target, pending.started, ABORTED, pending.token, pending.done, pending);
    },
  };
  const probe = (target: CheckTarget, timeoutMs: number, signal?: AbortSignal) => new Promise<CheckResult>((resolve) => {
    if (signal?.aborted) {
      resolve({ ok: false, message: spec.wording(target).prefix + ABORTED, latencyMs: 0 });
      return;
    }
    const onAbort = (): void => direct.cancel(attempt);
    const attempt = direct.start(target, timeoutMs, undefined, (_token, outcome) => {
      signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  return Object.assign(probe, { direct });
}

/** How this process makes http checks of a kind (the benchmarks record it). */
export function httpConnectorMode(kind: 'http' | 'https'): HttpMode {
  return kind === 'http' && engineFor({}).native !== undefined ? 'native' : 'net';
}

/** What an operator should hear about http checks at start: a bad override or a fallback. */
export function httpProbeWarnings(): string[] {
  const out: string[] = [];
  if (asked !== undefined && askedMode === undefined) {
    out.push(`HA_AGENT_HTTP_PROBE=${JSON.stringify(asked)} is not one of ${MODES.join(', ')}; using native`);
  }
  const engine = engineFor({});
  if (engine.native === undefined && askedMode !== 'net') out.push(`http checks run in JavaScript: ${engine.fallback}`);
  return out;
}
