// The daemon's VRRP service: conntrackd first (so the first MASTER can commit), then keepalived,
// both following config reloads; stopped in the reverse order.

import type { Config } from '../../config/schema.js';
import type { Daemon } from '../daemon/main.js';
import { ExecaRunner, type Runner } from '../apply/runner.js';
import { startConntrackd, type ConntrackdService } from './conntrackd.js';
import { startKeepalived, type KeepalivedService } from './keepalived.js';

/** How often the service looks for a reloaded config (the daemon replaces the frozen object). */
const RELOAD_POLL_MS = 1000;

export interface VrrpService {
  stop(): Promise<void>;
}

export async function startVrrp(daemon: Pick<Daemon, 'config' | 'logger' | 'vrrp'>, runner: Runner = new ExecaRunner()): Promise<VrrpService> {
  const config = daemon.config();
  const vrrp = config.vrrp;
  if (!vrrp) throw new Error('startVrrp needs a vrrp section');
  const logger = daemon.logger.child({ component: 'vrrp' });
  const deps = { runner, logger, view: daemon.vrrp };

  let conntrackd: ConntrackdService | undefined;
  if (config.conntrackd) conntrackd = await startConntrackd({ ...config, conntrackd: config.conntrackd }, deps);
  let keepalived: KeepalivedService;
  try {
    keepalived = await startKeepalived({ ...config, vrrp }, deps);
  } catch (err) {
    await conntrackd?.stop();
    throw err;
  }

  // Config reloads arrive through SIGHUP and the control socket alike; both swap daemon.config().
  let seen: Config = config;
  let busy = false;
  const poll = setInterval(() => {
    const next = daemon.config();
    if (next === seen || busy) return;
    seen = next;
    busy = true;
    void Promise.all([keepalived.reconfigure(next), conntrackd?.reconfigure(next)])
      .catch((err: Error) => logger.error({ err: err.message }, 'applying the reloaded vrrp config failed'))
      .finally(() => {
        busy = false;
      });
  }, RELOAD_POLL_MS);

  return {
    stop: async () => {
      clearInterval(poll);
      await keepalived.stop();
      await conntrackd?.stop();
    },
  };
}
