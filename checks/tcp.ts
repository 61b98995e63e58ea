// TCP connect probe: up when the three-way handshake completes within the timeout.
//
// Thousands of checks a second make the per-probe cost what matters (issue 3, check capacity):
// shared callbacks, one timer for all the timeouts, and the cheapest way to connect that this
// machine offers. Modes, best first (each falls back to the next when what it needs is missing):
// - half-open: the native engine (checks/tcp-native.ts): no handle objects per probe, results in
//   batches, TCP_QUICKACK off so the RST goes out before the handshake completes; the backend
//   answers the SYN but accepts nothing and logs nothing (HAProxy's plain `check`).
// - uv: bare libuv TCP handles (Node's own `tcp_wrap` binding, the layer under net.Socket): one
//   handle and one connect request per probe, full handshake, then RST.
// - net: net.Socket, full handshake, then RST; also what every mode uses for what the others do
//   not take (a bad port, a host name).

import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { ABORTED, describeError } from './errors.js';
import { loadTcpCheckAddon, NativeChecks } from './tcp-native.js';
import type { CheckResult, CheckTarget, DirectProbe, Probe, ProbeAttempt, ProbeDone } from './types.js';

/** Node's TCP handle and connect request as lib/net.js drives them (src/tcp_wrap.cc). */
interface UvTcp {
  connect(req: UvConnectReq, ip: string, port: number): number;
  connect6(req: UvConnectReq, ip: string, port: number): number;
  /** Closes with SO_LINGER 0: a RST when connected, nothing at all while still in SYN_SENT. */
  reset(): number;
  close(): void;
}
interface UvConnectReq {
  oncomplete: (status: number, handle: UvTcp, req: UvConnectReq) => void;
  attempt: Attempt | undefined;
}
interface TcpWrapBinding {
  TCP: new (type: number) => UvTcp;
  TCPConnectWrap: new () => UvConnectReq;
  constants: { SOCKET: number };
}

function loadTcpWrap(): TcpWrapBinding | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): Partial<TcpWrapBinding> }).binding('tcp_wrap');
    const proto = binding.TCP?.prototype as Partial<UvTcp> | undefined;
    const usable = typeof binding.TCPConnectWrap === 'function' && typeof binding.constants?.SOCKET === 'number'
      && typeof proto?.connect === 'function' && typeof proto.connect6 === 'function'
      && typeof proto.reset === 'function' && typeof proto.close === 'function';
    return usable ? binding as TcpWrapBinding : undefined;
  } catch {
    return undefined;
  }
}

export type TcpMode = 'half-open' | 'uv' | 'net';

class Attempt implements ProbeAttempt {
  /** Links in the list of attempts sharing this timeout, oldest first. */
  prev: Attempt | undefined = undefined;
  next: Attempt | undefined = undefined;
  list: TimeoutList | undefined = undefined;
  uv: UvTcp | undefined = undefined;
  socket: net.Socket | undefined = undefined;
  /** The native engine's socket and slot while it holds this attempt. */
  fd = -1;
  slot = -1;
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

/** Attempts with the same timeout expire in the order they started: a FIFO, O(1) each way. */
interface TimeoutList {
  head: Attempt | undefined;
  tail: Attempt | undefined;
}

const lists = new Map<number, TimeoutList>();
let timer: NodeJS.Timeout | undefined;
let timerAt = Infinity;

function track(attempt: Attempt): void {
  let list = lists.get(attempt.timeoutMs);
  if (list === undefined) {
    list = { head: undefined, tail: undefined };
    lists.set(attempt.timeoutMs, list);
  }
  attempt.list = list;
  attempt.prev = list.tail;
  if (list.tail) list.tail.next = attempt;
  else list.head = attempt;
  list.tail = attempt;
  if (attempt.deadline < timerAt) armTimer(attempt.deadline);
}

function untrack(attempt: Attempt): void {
  const list = attempt.list;
  if (list === undefined) return;
  if (attempt.prev) attempt.prev.next = attempt.next;
  else list.head = attempt.next;
  if (attempt.next) attempt.next.prev = attempt.prev;
  else list.tail = attempt.prev;
  attempt.prev = attempt.next = attempt.list = undefined;
}

/** One timer for every attempt in flight, set for the oldest; it moves on lazily when that one completes. */
function armTimer(at: number): void {
  if (timer !== undefined) clearTimeout(timer);
  timerAt = at;
  timer = setTimeout(expire, Math.max(0, Math.ceil(at - performance.now())));
  timer.unref();
}

function expire(): void {
  timer = undefined;
  timerAt = Infinity;
  // Timers fire on the loop's millisecond clock; a deadline within 1 ms counts as reached.
  const now = performance.now() + 1;
  let next = Infinity;
  for (const list of lists.values()) {
    // Each pass settles (and so unlinks) the head: bounded by the attempts in flight.
    while (list.head !== undefined && list.head.deadline <= now) {
      const attempt = list.head;
      abandon(attempt);
      settle(attempt, false, `timed out after ${attempt.timeoutMs} ms`);
    }
    if (list.head !== undefined && list.head.deadline < next) next = list.head.deadline;
  }
  if (next !== Infinity) armTimer(next);
}

/** Closes the attempt's connection without leaving TIME_WAIT behind. */
function abandon(attempt: Attempt): void {
  // Still in SYN_SENT (a timeout, a cancel) the reset sends nothing and leaves nothing behind.
  attempt.uv?.reset();
  attempt.socket?.destroy();
  if (attempt.fd >= 0) nativeChecks?.abort(attempt);
  attempt.uv = attempt.socket = undefined;
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
    const prefix = `TCP connect to ${target.ip}:${target.port}: `;
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
  untrack(attempt);
  attempt.done(attempt.token, result(attempt, ok, detail), attempt);
}

/** Settles on a microtask: `done` never runs inside `start` or `cancel`. */
function settleSoon(attempt: Attempt, ok: boolean, detail: string): void {
  attempt.settled = true;
  untrack(attempt);
  const outcome = result(attempt, ok, detail);
  queueMicrotask(() => attempt.done(attempt.token, outcome, attempt));
}

function onUvConnect(status: number, handle: UvTcp, req: UvConnectReq): void {
  const attempt = req.attempt;
  req.attempt = undefined;
  // A timeout or cancel closed the handle already; this is libuv reporting ECANCELED.
  if (attempt === undefined || attempt.settled) return;
  attempt.uv = undefined;
  if (status === 0) {
    // Reset, not FIN: no TIME_WAIT on the load balancer (SO_LINGER 0, as HAProxy does).
    handle.reset();
    settle(attempt, true, 'connected');
  } else {
    handle.close();
    settle(attempt, false, getSystemErrorName(status));
  }
}

function onNativeResult(attempt: Attempt, status: number): void {
  if (attempt.settled) return;
  settle(attempt, status === 0, status === 0 ? 'connected' : getSystemErrorName(status));
}

/** The one native engine of this process, made on first use: undefined when not built. */
let nativeChecks: NativeChecks<Attempt> | undefined;
let nativeError: string | undefined;
function nativeEngine(): NativeChecks<Attempt> | undefined {
  if (nativeChecks === undefined && nativeError === undefined) {
    const load = loadTcpCheckAddon();
    try {
      if (load.addon) nativeChecks = new NativeChecks<Attempt>(load.addon, onNativeResult);
      else nativeError = load.error;
    } catch (err) {
      // An engine that will not start (no epoll fd to be had) leaves the JavaScript checks.
      nativeError = (err as Error).message;
    }
  }
  return nativeChecks;
}

function startNative(engine: NativeChecks<Attempt>, attempt: Attempt): void {
  const err = engine.start(attempt, attempt.target.ip, attempt.target.port);
  if (err !== 0) settleSoon(attempt, false, getSystemErrorName(err));
  else track(attempt);
}

function startUv(binding: TcpWrapBinding, attempt: Attempt, family: 4 | 6): void {
  const { ip, port } = attempt.target;
  const handle = new binding.TCP(binding.constants.SOCKET);
  const req = new binding.TCPConnectWrap();
  req.oncomplete = onUvConnect;
  req.attempt = attempt;
  const err = family === 4 ? handle.connect(req, ip, port) : handle.connect6(req, ip, port);
  if (err !== 0) {
    req.attempt = undefined;
    handle.close();
    settleSoon(attempt, false, getSystemErrorName(err));
    return;
  }
  attempt.uv = handle;
  track(attempt);
}

function startSocket(attempt: Attempt): void {
  let socket: net.Socket;
  try {
    socket = net.connect({ host: attempt.target.ip, port: attempt.target.port });
  } catch (err) {
    // A bad port or address throws synchronously; it is still just a failed check.
    settleSoon(attempt, false, describeError(err));
    return;
  }
  attempt.socket = socket;
  socket.once('connect', () => {
    attempt.socket = undefined;
    socket.resetAndDestroy();
    settle(attempt, true, 'connected');
  });
  // Stays attached after the verdict so a late error (the peer's RST) is never unhandled.
  socket.on('error', (err) => {
    attempt.socket = undefined;
    socket.destroy();
    settle(attempt, false, describeError(err));
  });
  track(attempt);
}

const validPort = (port: number): boolean => Number.isInteger(port) && port > 0 && port < 65_536;

export interface TcpDirect extends DirectProbe {
  /** The mode in use: the one asked for, or what it fell back to. */
  readonly mode: TcpMode;
  /** Why the mode asked for was not available, when it was not. */
  readonly fallback?: string;
}

/** The callback form of the tcp probe, in `mode` or the best mode below it that this runtime offers. */
export function createTcpDirect(mode: TcpMode = 'half-open'): TcpDirect {
  const engine = mode === 'half-open' ? nativeEngine() : undefined;
  const binding = mode === 'net' || engine ? undefined : loadTcpWrap();
  const used: TcpMode = engine ? 'half-open' : binding ? 'uv' : 'net';
  const fallback = used === mode ? undefined
    : mode === 'half-open' && engine === undefined ? nativeError
    : "Node's tcp_wrap binding is missing or changed shape";
  return {
    mode: used,
    ...(fallback === undefined ? {} : { fallback }),
    start<T>(target: CheckTarget, timeoutMs: number, token: T, done: ProbeDone<T>): ProbeAttempt {
      const attempt = new Attempt(target, timeoutMs, token, done as ProbeDone<unknown>, performance.now());
      const family = validPort(target.port) ? net.isIP(target.ip) : 0;
      if (family !== 0 && engine) startNative(engine, attempt);
      else if ((family === 4 || family === 6) && binding) startUv(binding, attempt, family);
      else startSocket(attempt);
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

const MODES: readonly TcpMode[] = ['half-open', 'uv', 'net'];
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
  if (tcpDirect.fallback !== undefined) {
    out.push(`tcp checks run in ${tcpDirect.mode} mode (JavaScript, full handshake): ${tcpDirect.fallback}`);
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
