// One control connection: newline framing with a size cap and a deadline per request, requests
// answered in order, and `events --follow` streaming. Nothing a peer sends can throw out of here.

import type { Socket } from 'node:net';
import { LineSplitter } from '../io/lines.js';
import type { Logger } from '../log.js';
import { dispatch, type ControlApi } from './api.js';
import { ControlError, type ErrorBody } from './errors.js';
import { errorResponse, eventResponse, okResponse, MAX_REQUEST_BYTES, type Response } from './protocol.js';
import { parseRequest } from './request.js';

export interface ConnectionLimits {
  /** Longest request line; longer ones are refused and the connection closed. */
  readonly maxRequestBytes: number;
  /** A started request line must be complete within this (slow or half-sent requests). */
  readonly requestTimeoutMs: number;
  /** A connection with nothing in flight is closed after this long. */
  readonly idleTimeoutMs: number;
  /** A reader this far behind (events --follow) is dropped rather than buffered without end. */
  readonly maxBufferedBytes: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxRequestBytes: MAX_REQUEST_BYTES,
  requestTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  maxBufferedBytes: 4 * 1024 * 1024,
};

export function serveConnection(socket: Socket, api: ControlApi, limits: ConnectionLimits, logger: Logger): void {
  const splitter = new LineSplitter(limits.maxRequestBytes);
  const lines: string[] = [];
  let busy = false;
  let readEnded = false;
  let closed = false;
  let unsubscribe: (() => void) | undefined;
  let deadline: NodeJS.Timeout | undefined;

  const send = (response: Response): void => {
    if (closed) return;
    socket.write(`${JSON.stringify(response)}\n`);
    if (socket.writableLength > limits.maxBufferedBytes) {
      logger.warn({ buffered: socket.writableLength }, 'control client is not reading its answers; dropping it');
      socket.destroy();
    }
  };
  /** Answers with an error and closes: the framing can no longer be trusted. */
  const refuse = (error: ErrorBody): void => {
    send(errorResponse(null, error));
    lines.length = 0;
    clearTimeout(deadline);
    closed = true;
    socket.end();
  };
  const armDeadline = (): void => {
    if (splitter.pendingBytes === 0) {
      clearTimeout(deadline);
      deadline = undefined;
    } else if (!deadline) {
      deadline = setTimeout(() => refuse({
        code: 'timeout', message: `the request line was not completed within ${limits.requestTimeoutMs} ms (requests end with a newline)`,
      }), limits.requestTimeoutMs);
    }
  };

  const run = async (line: string): Promise<void> => {
    const parsed = parseRequest(line);
    if (!parsed.ok) return send(errorResponse(parsed.id, parsed.error));
    const { request } = parsed;
    const id = request.id ?? null;
    try {
      send(okResponse(id, await dispatch(api, request)));
      if (request.cmd === 'events' && request.follow && !closed) {
        unsubscribe = api.subscribe((event) => send(eventResponse(id, event)));
        socket.setTimeout(0);
      }
    } catch (err) {
      if (err instanceof ControlError) return send(errorResponse(id, err.toBody()));
      logger.error({ err: (err as Error).message, cmd: request.cmd }, 'control request failed');
      send(errorResponse(id, { code: 'internal', message: `internal error: ${(err as Error).message}` }));
    }
  };

  const drain = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    // Reading pauses while requests are answered, so a flood of lines waits in the kernel.
    socket.pause();
    while (lines.length > 0 && !closed && !unsubscribe) await run(lines.shift()!);
    busy = false;
    if (closed) return;
    if (readEnded && !unsubscribe) {
      closed = true;
      socket.end();
      return;
    }
    socket.resume();
  };

  const take = (received: readonly string[]): void => {
    if (splitter.overlongLines > 0) {
      refuse({ code: 'too_large', message: `the request exceeds ${limits.maxRequestBytes} bytes; closing the connection` });
      return;
    }
    for (const line of received) if (line.trim() !== '') lines.push(line);
    armDeadline();
    void drain();
  };

  socket.setTimeout(limits.idleTimeoutMs);
  socket.on('timeout', () => {
    // In-flight requests finish on their own; a partial line has its own deadline.
    if (!busy && !unsubscribe && splitter.pendingBytes === 0) {
      closed = true;
      socket.end();
    }
  });
  socket.on('data', (chunk: Buffer) => {
    if (closed || unsubscribe) return; // a follower's further input is ignored
    take(splitter.push(chunk));
  });
  socket.on('end', () => {
    readEnded = true;
    if (closed) return;
    if (unsubscribe) {
      // A follower that hangs up is gone (a half-closed socket looks the same until a write fails).
      closed = true;
      socket.end();
      return;
    }
    take(splitter.end());
  });
  socket.on('error', () => undefined); // EPIPE/ECONNRESET: the peer left; 'close' cleans up
  socket.on('close', () => {
    closed = true;
    clearTimeout(deadline);
    unsubscribe?.();
  });
}
