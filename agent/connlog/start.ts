// The connection log as a daemon service: bound to the NFLOG group while some farm has `log:
// true` (a reload may turn it on or off), each record one JSON log line ("connection").

import type { Clock } from '../../checks/clock.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../log.js';
import { nativeNflog } from './native.js';
import { ConnLog } from './service.js';

export interface ConnLogPorts {
  readonly config: () => Config;
  readonly marks: () => ReadonlyMap<string, number>;
  readonly logger: Logger;
  readonly clock: Clock;
}

export function startConnLog(ports: ConnLogPorts): { stop(): Promise<void>; reconfigure(config: Config): void } {
  const log = ports.logger.child({ component: 'connlog' });
  let running: { log: ConnLog; group: number } | undefined;
  const follow = (config: Config): void => {
    const wanted = config.farms.some((farm) => farm.log);
    const group = config.dataplane.log_group;
    if (running && (!wanted || running.group !== group)) {
      running.log.stop();
      running = undefined;
    }
    if (!wanted || running) return;
    const native = nativeNflog();
    if (!native.source) {
      log.warn({ reason: native.error }, 'farms have log: true but the connection log reader is not available; no connection is logged');
      return;
    }
    const reader = new ConnLog({
      source: native.source, group, marks: ports.marks, mask: () => ports.config().dataplane.mark_mask, clock: ports.clock,
      sink: (record) => log.info(record, 'connection'),
      dropped: (count) => log.warn({ dropped: count }, 'connection log lines dropped (over the reader\'s rate, or lost by the kernel)'),
    });
    try {
      reader.start();
      running = { log: reader, group };
    } catch (err) {
      log.error({ err: (err as Error).message, group }, 'cannot read the connection log group');
    }
  };
  follow(ports.config());
  return {
    stop: async () => {
      running?.log.stop();
      running = undefined;
    },
    reconfigure: follow,
  };
}
