// The daemon's control service: the v1 protocol (protocol.ts) on control.socket (SPEC §2).

import type { Daemon } from '../daemon/main.js';
import { daemonApi } from './api.js';
import { listenControl, type ControlSocketOptions } from './socket.js';

export async function startControl(daemon: Daemon, options: Pick<ControlSocketOptions, 'limits' | 'maxConnections'> = {}): Promise<{ stop(): Promise<void> }> {
  const { control } = daemon.config();
  const socket = await listenControl(daemonApi(daemon), {
    path: control.socket,
    ...(control.group !== undefined ? { group: control.group } : {}),
    logger: daemon.logger,
    ...options,
  });
  return { stop: () => socket.stop() };
}
