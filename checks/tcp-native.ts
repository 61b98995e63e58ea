// The native tcp check engine (native/tcp_check.c, built by native/build.sh into dist/native/):
// checks as file descriptors in a private epoll set, results delivered in batches, each check
// half-open (TCP_QUICKACK off, RST before the final ACK) as HAProxy's plain `check` does.
// Optional: checks/tcp.ts falls back to JavaScript checks when the engine is not built.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface TcpCheckAddon {
  /** Registers the batch callback and its result buffer (2 × BATCH int32: token, 0 or -errno). */
  init(onResults: (count: number) => void, results: Int32Array): number;
  /** Begins a check: its fd, or -errno when it failed at once. */
  start(token: number, ip: string, port: number): number;
  /** Ends a check that has not reported (a timeout, a cancel). */
  abort(fd: number): number;
  inflight(): number;
  readonly BATCH: number;
}

/** dist/checks/tcp-native.js → dist/native/tcp_check.node */
export const TCP_CHECK_ADDON = fileURLToPath(new URL('../native/tcp_check.node', import.meta.url));

export type AddonLoad = { addon: TcpCheckAddon; error?: undefined } | { addon?: undefined; error: string };

export function loadTcpCheckAddon(path: string = TCP_CHECK_ADDON): AddonLoad {
  try {
    const loaded = createRequire(import.meta.url)(path) as Partial<TcpCheckAddon>;
    const usable = typeof loaded.init === 'function' && typeof loaded.start === 'function'
      && typeof loaded.abort === 'function' && typeof loaded.inflight === 'function' && Number.isInteger(loaded.BATCH);
    return usable ? { addon: loaded as TcpCheckAddon } : { error: `${path} is not the tcp check engine` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === 'MODULE_NOT_FOUND' ? `${path} is not built (native/build.sh)` : `${path}: ${(err as Error).message}` };
  }
}

/** What the engine needs of a check in flight: its fd while the engine holds it, -1 after. */
export interface NativeCheck {
  fd: number;
  slot: number;
}

/**
 * The checks in flight, by token (a slot index, reused once its check has ended). Results come
 * one batch per loop iteration; the engine has closed every socket in the batch before it calls.
 */
export class NativeChecks<C extends NativeCheck> {
  private readonly slots: Array<C | undefined> = [];
  private readonly freeSlots: number[] = [];
  private readonly results: Int32Array;
  /** The batch being delivered: reused, never reallocated. */
  private readonly batch: Array<C | undefined> = [];

  constructor(private readonly addon: TcpCheckAddon, private readonly onResult: (check: C, status: number) => void) {
    this.results = new Int32Array(2 * addon.BATCH);
    const err = addon.init((count) => this.deliver(count), this.results);
    if (err !== 0) throw new Error(`tcp check engine: init failed (${err})`);
  }

  /** 0 when the check is under way, or -errno when it failed at once. */
  start(check: C, ip: string, port: number): number {
    const slot = this.freeSlots.pop() ?? this.slots.length;
    const fd = this.addon.start(slot, ip, port);
    if (fd < 0) {
      this.freeSlots.push(slot);
      return fd;
    }
    this.slots[slot] = check;
    check.fd = fd;
    check.slot = slot;
    return 0;
  }

  abort(check: C): void {
    if (check.fd < 0) return;
    this.addon.abort(check.fd);
    this.release(check);
  }

  private release(check: C): void {
    check.fd = -1;
    this.slots[check.slot] = undefined;
    this.freeSlots.push(check.slot);
    check.slot = -1;
  }

  private deliver(count: number): void {
    const { results, batch } = this;
    // First every check in the batch is released (its socket is closed already), so a result
    // handler that cancels a later one in the same batch cannot close a reused fd number.
    for (let i = 0; i < count; i++) {
      const check = this.slots[results[2 * i]!]!;
      this.release(check);
      batch[i] = check;
    }
    for (let i = 0; i < count; i++) {
      const check = batch[i]!;
      batch[i] = undefined;
      this.onResult(check, results[2 * i + 1]!);
    }
  }
}
