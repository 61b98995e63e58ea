// The notify service: follows the engine's events, keepalived's VRRP state and the cluster's
// connection, and hands each transition to the hooks of the running config. Listeners only
// queue (hooks.ts), so no source ever waits for a hook.

import type { Config } from '../../config/schema.js';
import type { Runner } from '../apply/runner.js';
import type { EventSource, Service } from '../daemon/ports.js';
import type { Logger } from '../log.js';
import type { VrrpState } from '../vrrp/state.js';
import { clusterEvent, fromEngineEvent, vrrpEvent } from './event.js';
import { NotifyHooks, type NotifyStats } from './hooks.js';

export interface NotifyPorts {
  readonly config: { config(): Config };
  readonly events: Pick<EventSource, 'on'>;
  readonly vrrp: { on(listener: (state: VrrpState, previous: VrrpState) => void): () => void };
  readonly runner: Runner;
  readonly logger: Logger;
}

/** The cluster store's connection events (PeerStore's). */
export interface ConnectionEvents {
  onConnected(listener: () => void): void;
  onDisconnected(listener: (reason: string) => void): void;
}

export interface NotifyService extends Service {
  /** Tells the hooks of the cluster's connects and disconnects from now on. */
  followCluster(store: ConnectionEvents): void;
  /** Counters for /metrics: delivered, failed, dropped, queued, per hook and in total. */
  stats(): NotifyStats;
}

export function startNotify(ports: NotifyPorts): NotifyService {
  const { config, logger } = ports;
  const hooks = new NotifyHooks({ runner: ports.runner, logger });
  hooks.use(config.config().notify);
  const node = () => config.config().node.id;
  const unfollowEngine = ports.events.on((event) => {
    const record = fromEngineEvent(node(), event);
    if (record) hooks.notify(record);
  });
  const unfollowVrrp = ports.vrrp.on((state, previous) => hooks.notify(vrrpEvent(node(), previous, state, Date.now())));
  let stopped = false;
  return {
    followCluster(store) {
      store.onConnected(() => { if (!stopped) hooks.notify(clusterEvent(node(), true, 'Redis connected', Date.now())); });
      store.onDisconnected((reason) => { if (!stopped) hooks.notify(clusterEvent(node(), false, reason, Date.now())); });
    },
    stats: () => hooks.stats(),
    reconfigure: (next) => hooks.use(next.notify),
    async stop() {
      stopped = true;
      unfollowEngine();
      unfollowVrrp();
      await hooks.stop();
      const { dropped } = hooks.stats();
      if (dropped > 0) logger.info({ dropped }, `notify hooks: ${dropped} events were not delivered`);
    },
  };
}
