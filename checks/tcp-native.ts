// The native tcp connector (native/tcp_check.c, built by native/build.sh into dist/native/):
// connects as file descriptors in a private epoll set, results delivered in batches, each check
// half-open (TCP_QUICKACK off, RST before the final ACK) as HAProxy's plain `check` does.
// JavaScript holds a token per check, never its fd: the engine owns its sockets, and a token
// whose check has ended names nothing, so a late abort cannot close a socket the kernel has
// since handed to someone else. Optional: checks/tcp.ts uses net.Socket when it is not built.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import type { ConnectDone, TcpConnect, TcpConnector } from './tcp-connector.js';

export interface TcpCheckAddon {
  /** Registers the batch callback and its result buffer (2 × BATCH: token, 0 or -errno): 0 or -errno. */
  init(onResults: (count: number) => void, results: Float64Array): number;
  /** Begins a check: its token (> 0), or -errno when it failed at once. */
  start(ip: string, port: number): number;
  /** Ends a check that has not reported: 0, or -ENOENT (and nothing done) for a token of no check in flight. */
  abort(token: number): number;
  inflight(): number;
  readonly BATCH: number;
  /** `token % SLOTS` is the token's slot, unique among the checks in flight. */
  readonly SLOTS: number;
}

/** dist/checks/tcp-native.js → dist/native/tcp_check.node */
export const TCP_CHECK_ADDON = fileURLToPath(new URL('../native/tcp_check.node', import.meta.url));

export type AddonLoad = { addon: TcpCheckAddon; error?: undefined } | { addon?: undefined; error: string };

export function loadTcpCheckAddon(path: string = TCP_CHECK_ADDON): AddonLoad {
  if (process.platform !== 'linux') return { error: `the tcp check engine needs Linux (epoll), this is ${process.platform}` };
  try {
    const loaded = createRequire(import.meta.url)(path) as Partial<TcpCheckAddon>;
    // SLOTS came with tokens: an engine built from an older tree lacks it and is not used.
    const usable = typeof loaded.init === 'function' && typeof loaded.start === 'function'
      && typeof loaded.abort === 'function' && typeof loaded.inflight === 'function'
      && Number.isInteger(loaded.BATCH) && Number.isInteger(loaded.SLOTS);
    return usable ? { addon: loaded as TcpCheckAddon } : { error: `${path} is not the tcp check engine (native/build.sh)` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === 'MODULE_NOT_FOUND' ? `${path} is not built (native/build.sh)` : `${path}: ${(err as Error).message}` };
  }
}

/** A connect as the native engine holds it: its token while in flight, -1 otherwise. */
export interface NativeConnect extends TcpConnect {
  nativeToken: number;
}

/**
 * The checks in flight, by slot (`token % SLOTS`). Results come one batch per loop iteration;
 * the engine has ended every check in the batch before it calls.
 */
export class NativeChecks<C extends NativeConnect> implements TcpConnector<C> {
  readonly mode = 'half-open';
  private readonly held: Array<C | undefined> = [];
  private readonly results: Float64Array;
  private readonly slots: number;
  /** The batch being delivered: reused, never reallocated. */
  private readonly batch: Array<C | undefined> = [];

  constructor(private readonly addon: TcpCheckAddon, private readonly done: ConnectDone<C>) {
    this.results = new Float64Array(2 * addon.BATCH);
    this.slots = addon.SLOTS;
    const err = addon.init((count) => this.deliver(count), this.results);
    if (err !== 0) throw new Error(`tcp check engine: init failed (${err})`);
  }

  start(connect: C): string | undefined {
    const token = this.addon.start(connect.target.ip, connect.target.port);
    if (token < 0) return describeStatus(token);
    this.held[token % this.slots] = connect;
    connect.nativeToken = token;
    return undefined;
  }

  abort(connect: C): void {
    if (connect.nativeToken < 0) return;
    this.addon.abort(connect.nativeToken);
    this.release(connect);
  }

  private release(connect: C): void {
    this.held[connect.nativeToken % this.slots] = undefined;
    connect.nativeToken = -1;
  }

  private deliver(count: number): void {
    const { results, batch } = this;
    // First every check in the batch is released, so a handler that aborts a later one of the
    // same batch (or starts a check that takes its slot) finds it ended, not in flight.
    for (let i = 0; i < count; i++) {
      const token = results[2 * i]!;
      const connect = this.held[token % this.slots];
      if (connect === undefined || connect.nativeToken !== token) continue;
      this.release(connect);
      batch[i] = connect;
    }
    for (let i = 0; i < count; i++) {
      const connect = batch[i];
      if (connect === undefined) continue;
      batch[i] = undefined;
      const status = results[2 * i + 1]!;
      this.done(connect, status === 0 ? undefined : describeStatus(status));
    }
  }
}

function describeStatus(status: number): string {
  try {
    return getSystemErrorName(status);
  } catch {
    return `error ${status}`;
  }
}
