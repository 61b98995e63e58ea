// The daemon's VRRP service: conntrackd first (so the first MASTER can commit), then keepalived,
// both following config reloads; stopped in the reverse order.

import type { Config } from '../../config/schema.js';
import type { VrrpPorts } from '../daemon/ports.js';
import { ExecaRunner, type Runner } from '../apply/runner.js';
import { serialQueue } from '../util/serial.js';
import { startConntrackd, type ConntrackdService } from './conntrackd.js';
import { startKeepalived, type KeepalivedService } from './keepalived.js';

export interface VrrpService {
  /** Called by the daemon with each config it puts in use; runs after the calls before it. */
  reconfigure(config: Config): Promise<void>;
  stop(): Promise<void>;
}

export async function startVrrp(ports: VrrpPorts, runner: Runner = new ExecaRunner()): Promise<VrrpService> {
  const config = ports.config.config();
  const vrrp = config.vrrp;
  if (!vrrp) throw new Error('startVrrp needs a vrrp section');
  const logger = ports.logger.child({ component: 'vrrp' });
  const deps = { runner, logger, view: ports.vrrp };

  let conntrackd: ConntrackdService | undefined;
  if (config.conntrackd) conntrackd = await startConntrackd({ ...config, conntrackd: config.conntrackd }, deps);
  let keepalived: KeepalivedService;
  try {
    keepalived = await startKeepalived({ ...config, vrrp }, deps);
  } catch (err) {
    await conntrackd?.stop();
    throw err;
  }

  // One at a time and in order, so the last config put in use is the one left written.
  const queue = serialQueue();
  const reconfigure = (next: Config): Promise<void> => queue.run(async () => {
    try {
      await Promise.all([keepalived.reconfigure(next), conntrackd?.reconfigure(next)]);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'applying the reloaded vrrp config failed');
    }
  });
  // A reload while starting came before the daemon knew this service: catch up with it.
  const current = ports.config.config();
  if (current !== config) void reconfigure(current);

  return {
    reconfigure,
    stop: async () => {
      await keepalived.stop();
      await conntrackd?.stop();
    },
  };
}
