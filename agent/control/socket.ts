// The control socket itself: claims the path (a stale file is removed only if nothing answers,
// a live socket is never stolen), listens with mode 0660 and control.group, bounds connections.

import { chmod, chown, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import type { ControlApi } from './api.js';
import { DEFAULT_LIMITS, serveConnection, type ConnectionLimits } from './connection.js';
import { resolveGroup } from './group.js';
import { errorResponse } from './protocol.js';

export interface ControlSocketOptions {
  readonly path: string;
  /** Group name or gid that may use the socket; root's group when absent. */
  readonly group?: string;
  readonly maxConnections?: number;
  readonly limits?: Partial<ConnectionLimits>;
  readonly logger: Logger;
}

export interface ControlSocket {
  stop(): Promise<void>;
}

const MODE = 0o660;

/** Resolves true when something accepts connections on `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    const done = (alive: boolean) => {
      clearTimeout(timer);
      probe.destroy();
      resolve(alive);
    };
    // A listener too busy to accept within a second is still a listener: never steal it.
    const timer = setTimeout(() => done(true), 1000);
    probe.once('connect', () => done(true));
    probe.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'));
  });
}

const liveMessage = (path: string) => `another process answers on ${path} (is ha-agent already running?); not taking over its socket`;

/** Rejects when something answers on `path`: run before the daemon touches the kernel or the state dir. */
export async function assertNoLiveAgent(path: string): Promise<void> {
  if (await answers(path)) throw new Error(liveMessage(path));
}

async function claimPath(path: string, logger: Logger): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stats.isSocket()) throw new Error(`${path} exists and is not a socket; not replacing it (check control.socket)`);
  if (await answers(path)) throw new Error(liveMessage(path));
  await unlink(path);
  logger.info({ path }, 'removed a stale control socket');
}

export async function listenControl(api: ControlApi, options: ControlSocketOptions): Promise<ControlSocket> {
  const { path, logger } = options;
  const limits: ConnectionLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const maxConnections = options.maxConnections ?? 32;
  const gid = options.group === undefined ? undefined : await resolveGroup(options.group);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await claimPath(path, logger);

  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    if (open.size >= maxConnections) {
      socket.on('error', () => undefined);
      socket.end(`${JSON.stringify(errorResponse(null, { code: 'busy', message: `too many control connections (${maxConnections}); try again` }))}\n`);
      return;
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    serveConnection(socket, api, limits, logger);
  });
  server.on('error', (err) => logger.error({ err: err.message }, 'control socket error'));

  // bind() creates the file with the umask applied; a tight umask means there is no moment
  // when others could connect before the chmod below.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  try {
    if (gid !== undefined) await chown(path, -1, gid);
    await chmod(path, MODE);
  } catch (err) {
    server.close();
    await unlink(path).catch(() => undefined);
    throw new Error(`cannot set the owner or mode of ${path}: ${(err as Error).message}`);
  }
  const inode = (await lstat(path)).ino;
  logger.info({ path, group: options.group ?? null, mode: MODE.toString(8) }, 'control socket listening');

  return {
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of open) socket.destroy();
      await closed;
      // Only our own file: a newer agent may already have replaced it.
      const now = await lstat(path).catch(() => undefined);
      if (now?.ino === inode) await unlink(path).catch(() => undefined);
    },
  };
}
