// The JavaScript tcp connector: net.Socket, full handshake, then RST. It takes every target (a
// host name, a bad port: the failure is the verdict) and runs wherever Node does; the agent uses
// it when the native engine is not built, and for what the engine does not take.

import net from 'node:net';
import { describeError } from './errors.js';
import type { ConnectDone, TcpConnect, TcpConnector } from './tcp-connector.js';

export interface NetConnect extends TcpConnect {
  /** The socket while the connect is in flight. */
  socket: net.Socket | undefined;
}

export class NetConnector<C extends NetConnect> implements TcpConnector<C> {
  readonly mode = 'net';

  constructor(private readonly done: ConnectDone<C>) {}

  start(connect: C): string | undefined {
    let socket: net.Socket;
    try {
      socket = net.connect({ host: connect.target.ip, port: connect.target.port });
    } catch (err) {
      // A bad port or address throws synchronously; it is still just a failed check.
      return describeError(err);
    }
    connect.socket = socket;
    socket.once('connect', () => {
      if (connect.socket !== socket) return;
      connect.socket = undefined;
      // Reset, not FIN: no TIME_WAIT on the load balancer (SO_LINGER 0, as HAProxy does).
      socket.resetAndDestroy();
      this.done(connect, undefined);
    });
    // Stays attached after the verdict so a late error (the peer's RST) is never unhandled.
    socket.on('error', (err) => {
      socket.destroy();
      if (connect.socket !== socket) return;
      connect.socket = undefined;
      this.done(connect, describeError(err));
    });
    return undefined;
  }

  abort(connect: C): void {
    // Still connecting: a close sends nothing (resetAndDestroy would wait for the connect).
    connect.socket?.destroy();
    connect.socket = undefined;
  }
}
