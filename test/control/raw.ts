// A raw socket client for tests: write bytes, collect answer lines, notice when the agent closes.

import { connect, type Socket } from 'node:net';

export interface RawConn {
  readonly socket: Socket;
  readonly lines: unknown[];
  /** Resolves once `n` lines arrived (rejects after timeoutMs). */
  waitLines(n: number, timeoutMs?: number): Promise<unknown[]>;
  /** Resolves when the agent closed the connection (rejects after timeoutMs). */
  closed(timeoutMs?: number): Promise<void>;
}

export function rawConnect(path: string): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const lines: unknown[] = [];
    let buffer = '';
    let ended = false;
    const waiters = new Set<() => void>();
    const poke = () => waiters.forEach((w) => w());
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        lines.push(JSON.parse(buffer.slice(0, nl)));
        buffer = buffer.slice(nl + 1);
      }
      poke();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      ended = true;
      poke();
    });
    const until = (done: () => boolean, what: string, timeoutMs: number) => new Promise<void>((res, rej) => {
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        waiters.delete(check);
        res();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        rej(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; lines: ${JSON.stringify(lines)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
    socket.once('connect', () => resolve({
      socket,
      lines,
      waitLines: async (n, timeoutMs = 2000) => {
        await until(() => lines.length >= n, `${n} lines`, timeoutMs);
        return lines.slice(0, n);
      },
      closed: (timeoutMs = 2000) => until(() => ended, 'the connection to close', timeoutMs),
    }));
    socket.once('error', reject);
  });
}
