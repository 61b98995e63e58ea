// Drift repair: kernel events first, a node-cron sweep as the safety net. A change someone else
// made to the agent's rules (reported by the nf_tables monitor) is logged with what it touched
// and who wrote it, and repaired at once; lost events bring a full verify; the sweep verifies
// everything on the schedule, in case events were missed some way the monitor could not tell.
// Every check holds the engine's dataplane, so it never reads a half-applied transaction or
// repairs alongside one, and checks asked for while one runs are done together after it.

import cron from 'node-cron';
import { cronScheduleError, DEFAULT_VERIFY_SCHEDULE } from '../../config/cron.js';
import type { Logger } from '../log.js';
import { agentScope, changedObjects } from '../apply/nft-concern.js';
import type { Drift } from '../apply/nft-monitor.js';
import { driftRepairMetric, type DriftHow, type DriftRepairs } from '../metrics/drift.js';
import type { ChangedObject, Netfilter } from '../apply/netfilter.js';
import type { DataplaneGuard } from './ports.js';

export type { DriftHow };

/** The last repair of drift: when (epoch ms), how it was found, and what had changed. */
export interface LastDrift {
  readonly at: number;
  readonly how: DriftHow;
  readonly what: string;
}

export interface DriftWatch {
  /** A report of the nf_tables monitor: repairs (`change`) or verifies (`lost`) at once. */
  onEvent(drift: Drift): void;
  stop(): void;
  readonly repairs: number;
  /** Checks that events started (each a read of the agent's rules, and a repair when needed). */
  readonly eventChecks: number;
  readonly lastDrift: LastDrift | null;
}

/** What the event-driven checks still have to do. */
interface Pending {
  repair: boolean;
  verify: boolean;
  what: string[];
  /** The objects the events named, while all of them could be rewritten alone; null: the whole ruleset. */
  objects: ChangedObject[] | null;
}

const MAX_LOGGED_CHANGES = 20;

export function watchDrift(schedule: string, netfilter: Netfilter, engine: DataplaneGuard, logger: Logger, now: () => number = Date.now,
  metric: DriftRepairs = driftRepairMetric): DriftWatch {
  let busy = false;
  let stopped = false;
  let repairs = 0;
  let eventChecks = 0;
  let lastDrift: LastDrift | null = null;
  let pending: Pending | undefined;
  const scope = agentScope(netfilter.driver);

  const repaired = (how: DriftHow, what: string, detail: Record<string, unknown>) => {
    repairs++;
    metric.repaired(how);
    lastDrift = { at: now(), how, what };
    engine.setInSync(true);
    logger.info({ repairs, how, ...detail }, 'rules repaired');
  };

  const sweep = async (): Promise<void> => {
    const report = await netfilter.verify();
    engine.setInSync(report.inSync && engine.dataplane.lastError === null);
    if (report.inSync) return;
    logger.warn({ differences: report.differences, how: 'sweep' }, `rules drifted from what was applied (${report.differences.length} differences); repairing`);
    await netfilter.repair(engine.desired());
    repaired('sweep', report.differences.slice(0, 3).join('; '), {});
  };

  /** An event said what changed: one read of the kernel and a rewrite of what differs. */
  const onEvents = async (work: Pending): Promise<void> => {
    eventChecks++;
    const what = work.what.join('; ');
    if (!work.repair) {
      // Events were lost: what changed is unknown, so everything is compared.
      const report = await netfilter.verify();
      engine.setInSync(report.inSync && engine.dataplane.lastError === null);
      if (report.inSync) return;
      logger.warn({ differences: report.differences, how: 'event' }, `rules drifted from what was applied (${report.differences.length} differences); repairing`);
      await netfilter.repair(engine.desired());
      repaired('event', report.differences.slice(0, 3).join('; '), {});
      return;
    }
    // The objects the events named are rewritten from what was applied (nftables driver); else
    // repair reads the agent's rules once and rewrites the chains and maps that differ (a verify
    // first would read them twice).
    const result = await netfilter.repair(engine.desired(), work.verify ? undefined : work.objects ?? undefined);
    if (!result.changed) {
      engine.setInSync(engine.dataplane.lastError === null);
      logger.info({ changes: work.what }, 'rules changed by another process already match what was applied');
      return;
    }
    repaired('event', what, { rewritten: result.rewritten, deleted: result.deleted, ms: Math.round(result.durationMs) });
  };

  const run = async (job: () => Promise<void>, what: string): Promise<void> => {
    busy = true;
    try {
      await engine.exclusive(job);
    } catch (err) {
      engine.setInSync(false);
      logger.error({ err: (err as Error).message }, `${what} failed`);
    } finally {
      busy = false;
    }
  };

  /** Runs the event work queued so far, and what queues up meanwhile, one check at a time. */
  const drain = async (): Promise<void> => {
    while (pending && !busy && !stopped) {
      const work = pending;
      pending = undefined;
      await run(() => onEvents(work), 'drift repair');
    }
  };

  const tick = async (): Promise<void> => {
    // A check still running (a slow kernel) is not doubled by the next tick.
    if (busy) return;
    await run(sweep, 'drift check');
    void drain();
  };

  const onEvent = (drift: Drift): void => {
    if (stopped) return;
    const work = pending ?? (pending = { repair: false, verify: false, what: [], objects: [] });
    if (drift.cause === 'change') {
      const writer = drift.process === undefined ? `pid ${drift.pid ?? 'unknown'}` : `${drift.process} (pid ${drift.pid})`;
      const shown = drift.reasons.slice(0, MAX_LOGGED_CHANGES);
      const more = drift.reasons.length - shown.length;
      logger.warn({ writer: drift.process, pid: drift.pid, generation: drift.generation, changes: shown, ...(more > 0 ? { more } : {}) },
        `rules changed by ${writer}: ${shown.slice(0, 3).join('; ')}${drift.reasons.length > 3 ? ` and ${drift.reasons.length - 3} more` : ''}; ${drift.pid === undefined ? 'verifying' : 'repairing'}`);
      // A kernel that does not name the writer (before NFTA_GEN_PROC_PID) cannot tell the agent's
      // own transactions apart: a verify, not a repair, so a repair's own events end the round.
      if (drift.pid === undefined) work.verify = true;
      else work.repair = true;
      const objects = changedObjects(scope, drift.events, drift.reasons);
      work.objects = work.objects && objects ? [...work.objects, ...objects] : null;
      if (work.what.length < MAX_LOGGED_CHANGES) work.what.push(...shown.slice(0, MAX_LOGGED_CHANGES - work.what.length).map((r) => `${r} by ${writer}`));
    } else {
      logger.warn({ reasons: drift.reasons }, `ruleset changes may have been missed (${drift.reasons.join('; ')}); verifying all rules`);
      work.verify = true;
      if (work.what.length < MAX_LOGGED_CHANGES) work.what.push(...drift.reasons);
    }
    void drain();
  };

  // check-config refuses such a schedule; should one still arrive, drift is checked on the default
  // rather than node-cron throwing half-way through the daemon's start.
  const problem = cronScheduleError(schedule);
  if (problem) logger.error(`dataplane.verify_schedule ${JSON.stringify(schedule)} is not a cron schedule; checking drift on the default "${DEFAULT_VERIFY_SCHEDULE}"`);
  const task = cron.schedule(problem ? DEFAULT_VERIFY_SCHEDULE : schedule, () => void tick());
  return {
    onEvent,
    stop: () => {
      stopped = true;
      task.stop();
    },
    get repairs() { return repairs; },
    get eventChecks() { return eventChecks; },
    get lastDrift() { return lastDrift; },
  };
}
