// The JavaScript http connector: a net.Socket (under tls for https) that writes the prebuilt
// request and feeds what comes back to a ResponseReader, without the http module's request,
// response, parser and header objects. It takes every check: https, bodies to match, targets the
// native engine does not take, and all of them where the engine is not built.

import net from 'node:net';
import tls from 'node:tls';
import { describeError } from './errors.js';
import type { HttpConnector, HttpDone, HttpExchange } from './http-connector.js';
import { ResponseReader, type ReadStep } from './http-response.js';

export interface NetExchange extends HttpExchange {
  /** The TCP socket while the exchange is in flight. */
  raw: net.Socket | undefined;
  /** What is read and written: the TLS socket over `raw`, or `raw` itself. */
  top: net.Socket | undefined;
}

const ignore = (): void => undefined;

export class HttpNetConnector<C extends NetExchange> implements HttpConnector<C> {
  readonly mode = 'net';

  constructor(private readonly done: HttpDone<C>) {}

  start(exchange: C): string | undefined {
    const { target } = exchange;
    let raw: net.Socket;
    try {
      raw = net.connect({ host: target.ip, port: target.port });
    } catch (err) {
      // A bad port or address throws synchronously; it is still just a failed check.
      return describeError(err);
    }
    // Stays attached after the verdict so a late error (the peer's RST) is never unhandled.
    raw.on('error', ignore);
    const settings = exchange.tls;
    let top: net.Socket = raw;
    if (settings !== undefined) {
      const session = settings.sessions.get(target);
      top = tls.connect({
        socket: raw,
        host: target.ip,
        servername: settings.servername,
        rejectUnauthorized: settings.verify,
        secureContext: settings.context,
        ...(session ? { session } : {}),
      });
      top.on('session', (ticket: Buffer) => settings.sessions.set(target, ticket));
      top.on('error', ignore);
    }
    exchange.raw = raw;
    exchange.top = top;
    const reader = new ResponseReader((status) => exchange.wantsBody(status), exchange.head);
    const finish = (step: ReadStep): void => {
      if (exchange.top !== top) return;
      this.release(exchange);
      if (step.failure !== undefined) this.done(exchange, 0, step.failure, undefined);
      else this.done(exchange, step.status, undefined, step.body);
    };
    top.on('data', (chunk: Buffer) => {
      const step = reader.push(chunk);
      if (step !== undefined) finish(step);
    });
    top.on('end', () => finish(reader.end()));
    top.on('error', (err) => finish({ failure: describeError(err) }));
    // Written at once: the socket holds it until connected (and, for tls, until the handshake).
    top.write(exchange.request);
    return undefined;
  }

  abort(exchange: C): void {
    this.release(exchange);
  }

  private release(exchange: C): void {
    closeWithReset(exchange.raw, exchange.top);
    exchange.raw = exchange.top = undefined;
  }
}

/**
 * Resets rather than closes, as the TCP probe does: no TIME_WAIT left on the load balancer.
 * Once a shutdown has begun (the server closed first after `connection: close`, and Node
 * answered with its own FIN) a reset is refused with EINVAL, and Node 20 then spins on the
 * socket; but then the server closed first and holds the TIME_WAIT, so a plain destroy is right.
 */
function closeWithReset(raw: net.Socket | undefined, top: net.Socket | undefined): void {
  if (!raw || !top || top.destroyed) return;
  // Still connecting: nothing to reset, and resetAndDestroy would wait for the connect.
  if (raw.connecting || top.writableEnded || raw.writableEnded || raw.destroyed) {
    top.destroy();
    return;
  }
  try {
    raw.resetAndDestroy();
  } catch {
    top.destroy();
  }
  if (top !== raw) top.destroy();
}
