// TCP connect probe: up when the three-way handshake completes within the timeout.
//
// Thousands of checks a second make the per-probe cost what matters: shared callbacks, one
// timer for all the timeouts (checks/tcp-timeouts.ts), and the cheapest connector this machine
// offers, chosen on first use (importing this module opens nothing). Connectors
// (checks/tcp-connector.ts), best first:
// - half-open: the native engine (checks/tcp-native.ts): no handle objects per probe, results in
//   batches, TCP_QUICKACK off so the RST goes out before the handshake completes; the backend
//   answers the SYN but accepts nothing and logs nothing (HAProxy's plain `check`).
// - net: net.Socket (checks/tcp-net.ts), full handshake, then RST; where the engine is not built,
//   and for what the engine does not take (a bad port, a host name).
// Node's internal tcp_wrap binding, a cheaper JavaScript path, is not used: the engine is
// built wherever the agent is meant to carry load, and the fallback only has to be right.

import net from 'node:net';
import { formatEndpoint } from '../config/net.js';
import { ABORTED } from './errors.js';
import type { TcpConnector, TcpMode } from './tcp-connector.js';
import { loadTcpCheckAddon, NativeChecks, type AddonLoad, type NativeConnect } from './tcp-native.js';
import { NetConnector, type NetConnect } from './tcp-net.js';
import { Timeouts, type Timed } from './tcp-timeouts.js';
import type { CheckResult, CheckTarget, DirectProbe, Probe, ProbeAttempt, ProbeDone } from './types.js';

export type { TcpMode } from './tcp-connector.js';

class Attempt implements ProbeAttempt, Timed, NativeConnect, NetConnect {
  prev: Timed | undefined = undefined;
  next: Timed | undefined = undefined;
  list: Timed['list'] = undefined;
  /** The connector holding this attempt while it is in flight. */
  via: TcpConnector<Attempt> | undefined = undefined;
  nativeToken = -1;
  socket: net.Socket | undefined = undefined;
  settled = false;
  readonly deadline: number;

  constructor(
    readonly target: CheckTarget,
    readonly timeoutMs: number,
    readonly token: unknown,
    readonly done: ProbeDone<unknown>,
    readonly started: number,
  ) {
    this.deadline = started + timeoutMs;
  }
}

const timeouts = new Timeouts<Attempt>((attempt) => {
  abandon(attempt);
  settle(attempt, false, `timed out after ${attempt.timeoutMs} ms`);
});

/** Ends the attempt's connect without leaving TIME_WAIT behind. */
function abandon(attempt: Attempt): void {
  attempt.via?.abort(attempt);
  attempt.via = undefined;
}

/**
 * Messages per target, built once: a result is kept until the next one (the engine's last
 * check), so a string built per probe would outlive the young generation and fill the old one.
 */
interface Wording { readonly prefix: string; readonly connected: string }
const wordings = new WeakMap<CheckTarget, Wording>();

function wording(target: CheckTarget): Wording {
  let w = wordings.get(target);
  if (w === undefined) {
    // Flattened now, so every later use shares one string.
    const prefix = `TCP connect to ${formatEndpoint(target.ip, target.port)}: `;
    w = { prefix, connected: `${prefix}connected` };
    wordings.set(target, w);
  }
  return w;
}

function result(attempt: Attempt, ok: boolean, detail: string): CheckResult {
  const w = wording(attempt.target);
  const message = ok && detail === 'connected' ? w.connected : w.prefix + detail;
  return { ok, message, latencyMs: performance.now() - attempt.started };
}

function settle(attempt: Attempt, ok: boolean, detail: string): void {
  if (attempt.settled) return;
  attempt.settled = true;
  timeouts.drop(attempt);
  attempt.done(attempt.token, result(attempt, ok, detail), attempt);
}

/** Settles on a microtask: `done` never runs inside `start` or `cancel`. */
function settleSoon(attempt: Attempt, ok: boolean, detail: string): void {
  attempt.settled = true;
  timeouts.drop(attempt);
  const outcome = result(attempt, ok, detail);
  queueMicrotask(() => attempt.done(attempt.token, outcome, attempt));
}

/** The one callback every connector reports to. */
function onConnect(attempt: Attempt, error: string | undefined): void {
  attempt.via = undefined;
  if (error === undefined) settle(attempt, true, 'connected');
  else settle(attempt, false, error);
}

const netConnector = new NetConnector<Attempt>(onConnect);

interface Choice {
  readonly connector: TcpConnector<Attempt>;
  /** Why the connector asked for is not the one in use. */
  readonly fallback?: string;
}

function openNative(load: () => AddonLoad): Choice {
  const loaded = load();
  if (loaded.addon === undefined) return { connector: netConnector, fallback: loaded.error };
  try {
    return { connector: new NativeChecks<Attempt>(loaded.addon, onConnect) };
  } catch (err) {
    // An engine that will not start (no epoll fd to be had) leaves the JavaScript connector.
    return { connector: netConnector, fallback: (err as Error).message };
  }
}

/** The engine is one per process (its addon initialises once), opened by the first probe that wants it. */
let processEngine: Choice | undefined;

function choose(mode: TcpMode, load: () => AddonLoad): Choice {
  switch (mode) {
    case 'net':
      return { connector: netConnector };
    case 'half-open':
      if (load !== loadTcpCheckAddon) return openNative(load);
      return (processEngine ??= openNative(load));
    default:
      return unreachable(mode);
  }
}

function unreachable(value: never): never {
  throw new Error(`unknown tcp check mode ${JSON.stringify(value)}`);
}

const validPort = (port: number): boolean => Number.isInteger(port) && port > 0 && port < 65_536;

export interface TcpDirect extends DirectProbe {
  /** The mode in use: the one asked for, or what it fell back to. Reading it makes the choice. */
  readonly mode: TcpMode;
  /** Why the mode asked for was not available, when it was not. */
  readonly fallback: string | undefined;
}

/**
 * The callback form of the tcp probe, in `mode` or the JavaScript connector when the engine is
 * not to be had. Nothing is opened until the first probe (or a look at `mode`).
 */
export function createTcpDirect(mode: TcpMode = 'half-open', load: () => AddonLoad = loadTcpCheckAddon): TcpDirect {
  let choice: Choice | undefined;
  const chosen = (): Choice => (choice ??= choose(mode, load));
  return {
    get mode() {
      return chosen().connector.mode;
    },
    get fallback() {
      return chosen().fallback;
    },
    start<T>(target: CheckTarget, timeoutMs: number, token: T, done: ProbeDone<T>): ProbeAttempt {
      const attempt = new Attempt(target, timeoutMs, token, done as ProbeDone<unknown>, performance.now());
      const { connector } = chosen();
      const takes = connector === netConnector || (validPort(target.port) && net.isIP(target.ip) !== 0);
      const via = takes ? connector : netConnector;
      const error = via.start(attempt);
      if (error !== undefined) {
        settleSoon(attempt, false, error);
      } else {
        attempt.via = via;
        timeouts.add(attempt);
      }
      return attempt;
    },
    cancel(pending: ProbeAttempt): void {
      const attempt = pending as Attempt;
      if (attempt.settled) return;
      abandon(attempt);
      settleSoon(attempt, false, ABORTED);
    },
  };
}

const MODES: readonly TcpMode[] = ['half-open', 'net'];
const asked = process.env.HA_AGENT_TCP_PROBE;
const askedMode = MODES.find((m) => m === asked);

/** The tcp probe the agent uses: the best mode available, or HA_AGENT_TCP_PROBE's (for diagnosis). */
export const tcpDirect = createTcpDirect(askedMode ?? 'half-open');

/** What an operator should hear about the tcp probe at start: a bad override or a fallback. */
export function tcpProbeWarnings(): string[] {
  const out: string[] = [];
  if (asked !== undefined && askedMode === undefined) {
    out.push(`HA_AGENT_TCP_PROBE=${JSON.stringify(asked)} is not one of ${MODES.join(', ')}; using ${tcpDirect.mode}`);
  }
  const fallback = tcpDirect.fallback;
  if (fallback !== undefined) {
    out.push(`tcp checks run in ${tcpDirect.mode} mode (JavaScript, full handshake): ${fallback}`);
  }
  return out;
}

/** The promise form of a direct probe (one closure and listener per call; the scheduler uses `direct`). */
export function promiseProbe(direct: DirectProbe): Probe {
  const probe = (target: CheckTarget, timeoutMs: number, signal?: AbortSignal) => new Promise<CheckResult>((resolve) => {
    if (signal?.aborted) {
      resolve({ ok: false, message: wording(target).prefix + ABORTED, latencyMs: 0 });
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

/**
 * Connects and immediately resets the connection. Closing with RST (SO_LINGER 0, as HAProxy
 * does) leaves no TIME_WAIT socket on the load balancer, so thousands of checks per second do
 * not exhaust its ephemeral ports; in half-open mode the backend never completes the handshake.
 */
export const tcpProbe: Probe = promiseProbe(tcpDirect);
