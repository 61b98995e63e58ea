// The daemon's control service: the v1 protocol (protocol.ts) on control.socket (SPEC §2).

import type { ControlPorts } from '../daemon/ports.js';
import { daemonApi } from './api.js';
import { listenControl, type ControlSocket } from './socket.js';

export function startControl(ports: ControlPorts): Promise<ControlSocket> {
  const { control } = ports.config.config();
  return listenControl(daemonApi(ports), {
    path: control.socket,
    ...(control.group !== undefined ? { group: control.group } : {}),
    logger: ports.logger,
  });
}
