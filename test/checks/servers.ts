// Local servers for probe tests: a TCP listener, an HTTP(S) app, a port that never answers.

import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { ExecaRunner } from '../../agent/apply/runner.js';

export interface Listening<S> {
  readonly server: S;
  readonly port: number;
  close(): Promise<void>;
}

async function listen<S extends net.Server>(server: S, host = '127.0.0.1'): Promise<Listening<S>> {
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    close: () => new Promise<void>((resolve) => {
      (server as unknown as http.Server).closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

/** Accepts and forgets connections (the probe resets them). */
export function tcpServer(host = '127.0.0.1'): Promise<Listening<net.Server>> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('close', () => undefined);
  return listen(server, host).then((l) => ({
    ...l,
    close: async () => {
      for (const s of sockets) s.destroy();
      await l.close();
    },
  }));
}

/** A port on 127.0.0.1 where nothing listens: connects are refused. */
export { freePort as closedPort } from '../support/net.js';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export function httpServer(handler: Handler): Promise<Listening<http.Server>> {
  return listen(http.createServer(handler));
}

export function httpsServer(handler: Handler, key: string, cert: string): Promise<Listening<https.Server>> {
  return listen(https.createServer({ key, cert }, handler));
}

/**
 * A listening port whose accept queue is full and whose owner never accepts (its thread is
 * blocked): the kernel drops further SYNs, so a connect hangs until the caller's timeout.
 */
export async function blackholePort(): Promise<{ port: number; close(): Promise<void> }> {
  const worker = new Worker(`
    const net = require('node:net');
    const { parentPort } = require('node:worker_threads');
    const server = net.createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(server.address().port);
      // Block this thread for good: the listening socket is never accepted from again.
      setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 20);
    });`, { eval: true });
  const [port] = (await once(worker, 'message')) as [number];
  await new Promise((resolve) => setTimeout(resolve, 50));
  // Fill the accept queue (backlog 1 holds 2 on Linux); the fillers' own connects may hang.
  const fillers = Array.from({ length: 4 }, () => net.connect({ host: '127.0.0.1', port }).on('error', () => undefined));
  await new Promise((resolve) => setTimeout(resolve, 100));
  return {
    port,
    close: async () => {
      for (const f of fillers) f.destroy();
      await worker.terminate();
    },
  };
}

/**
 * Sockets in TIME_WAIT as `ss` sees them: to `port` (the prober's side, 'client'), from it
 * (the server's side), or both.
 */
export async function timeWaitCount(port: number, side: 'client' | 'server' | 'both' = 'both'): Promise<number> {
  const filter = side === 'client' ? `dport = :${port}` : side === 'server' ? `sport = :${port}` : `( sport = :${port} or dport = :${port} )`;
  const run = await new ExecaRunner().run('ss', ['-Htan', 'state', 'time-wait', filter]);
  if (run.exitCode !== 0) throw new Error(`ss failed: ${run.stderr}`);
  return run.stdout.split('\n').filter((line) => line.trim() !== '').length;
}

export { sleep } from '../netns/poll.js';
