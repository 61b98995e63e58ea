// What a tcp check needs of a way to connect, so each way (the native engine, net.Socket) is one
// small file behind the same two calls and checks/tcp.ts owns the timeouts and the verdicts.

import type { CheckTarget } from './types.js';

/** half-open: the native engine (checks/tcp-native.ts); net: net.Socket (checks/tcp-net.ts). */
export type TcpMode = 'half-open' | 'net';

/** A connect as a connector sees it; the connector keeps its own hold on it in its own fields. */
export interface TcpConnect {
  readonly target: CheckTarget;
}

/** Told once per connect that was not aborted: undefined when connected, else the error word. */
export type ConnectDone<C extends TcpConnect> = (connect: C, error: string | undefined) => void;

export interface TcpConnector<C extends TcpConnect> {
  readonly mode: TcpMode;
  /**
   * Begins connecting to `connect.target`; the connector's `done` hears how it went, never from
   * inside this call. Returns the error word instead when it failed at once (then `done` is not
   * called), e.g. EINVAL for an address this connector does not take.
   */
  start(connect: C): string | undefined;
  /** Gives up a connect in flight (a timeout, a cancel); `done` is not called. A no-op once it has ended. */
  abort(connect: C): void;
}
