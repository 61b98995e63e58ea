// Drift repair on a node-cron schedule: verify the kernel still holds what was applied, and
// rewrite what someone flushed or edited by hand. Each check holds the engine's dataplane, so it
// never reads a half-applied transaction or repairs alongside one.

import cron from 'node-cron';
import { cronScheduleError, DEFAULT_VERIFY_SCHEDULE } from '../../config/cron.js';
import type { Logger } from '../log.js';
import type { Netfilter } from '../apply/netfilter.js';
import type { DataplaneGuard } from './ports.js';

export interface DriftWatch {
  stop(): void;
  readonly repairs: number;
}

export function watchDrift(schedule: string, netfilter: Netfilter, engine: DataplaneGuard, logger: Logger): DriftWatch {
  let busy = false;
  let repairs = 0;
  const check = async (): Promise<void> => {
    const report = await netfilter.verify();
    engine.setInSync(report.inSync && engine.dataplane.lastError === null);
    if (report.inSync) return;
    logger.warn({ differences: report.differences }, `rules drifted from what was applied (${report.differences.length} differences); repairing`);
    await netfilter.repair(engine.desired());
    repairs++;
    engine.setInSync(true);
    logger.info({ repairs }, 'rules repaired');
  };
  const tick = async (): Promise<void> => {
    // A check still running (a slow kernel) is not doubled by the next tick.
    if (busy) return;
    busy = true;
    try {
      await engine.exclusive(check);
    } catch (err) {
      engine.setInSync(false);
      logger.error({ err: (err as Error).message }, 'drift check failed');
    } finally {
      busy = false;
    }
  };
  // check-config refuses such a schedule; should one still arrive, drift is checked on the default
  // rather than node-cron throwing half-way through the daemon's start.
  const problem = cronScheduleError(schedule);
  if (problem) logger.error(`dataplane.verify_schedule ${JSON.stringify(schedule)} is not a cron schedule; checking drift on the default "${DEFAULT_VERIFY_SCHEDULE}"`);
  const task = cron.schedule(problem ? DEFAULT_VERIFY_SCHEDULE : schedule, () => void tick());
  return { stop: () => task.stop(), get repairs() { return repairs; } };
}
