// The daemon's control service: the v1 protocol (protocol.ts) on control.socket (SPEC §2).

import type { Daemon } from '../daemon/main.js';
import { daemonApi } from './api.js';
import { listenControl, type ControlSocket } from './socket.js';

export function startControl(daemon: Daemon): Promise<ControlSocket> {
  const { control } = daemon.config();
  return listenControl(daemonApi(daemon), {
    path: control.socket,
    ...(control.group !== undefined ? { group: control.group } : {}),
    logger: daemon.logger,
  });
}
