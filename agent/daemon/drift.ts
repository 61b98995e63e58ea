// Drift repair on a node-cron schedule: verify the kernel still holds what was applied, and
// rewrite what someone flushed or edited by hand.

import cron from 'node-cron';
import type { Logger } from '../log.js';
import type { Netfilter } from '../apply/netfilter.js';
import type { Engine } from '../engine/engine.js';

export interface DriftWatch {
  stop(): void;
  /** Runs one check now; resolves true when the kernel was in sync. */
  checkNow(): Promise<boolean>;
  readonly repairs: number;
}

export function watchDrift(schedule: string, netfilter: Netfilter, engine: Engine, logger: Logger): DriftWatch {
  let busy = false;
  let repairs = 0;
  const checkNow = async (): Promise<boolean> => {
    if (busy) return true;
    busy = true;
    try {
      const report = await netfilter.verify();
      engine.dataplane.inSync = report.inSync && engine.dataplane.lastError === null;
      if (report.inSync) return true;
      logger.warn({ differences: report.differences }, `rules drifted from what was applied (${report.differences.length} differences); repairing`);
      await netfilter.repair(engine.desired());
      repairs++;
      engine.dataplane.inSync = true;
      logger.info({ repairs }, 'rules repaired');
      return false;
    } catch (err) {
      engine.dataplane.inSync = false;
      logger.error({ err: (err as Error).message }, 'drift check failed');
      return false;
    } finally {
      busy = false;
    }
  };
  const task = cron.schedule(schedule, () => void checkNow());
  return { stop: () => task.stop(), checkNow, get repairs() { return repairs; } };
}
