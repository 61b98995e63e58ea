// This node's own health checks: the scheduler runs them, each result goes to the engine's
// table, and each verdict either to the engine or, while clustered, to the cluster, whose policy
// decides what the engine applies.

import type { Clock } from '../../checks/clock.js';
import { probeFor } from '../../checks/probe.js';
import { Scheduler, type ScheduledCheck } from '../../checks/scheduler.js';
import type { Config } from '../../config/schema.js';
import type { Runner } from '../apply/runner.js';
import type { Engine } from '../engine/engine.js';
import { pauseMaintained } from '../engine/maintenance.js';
import type { Logger } from '../log.js';
import { markKey } from '../plan/marks.js';
import type { Health } from '../plan/plan.js';
import type { HealthSink, LocalVerdicts } from './ports.js';
import { scheduledChecks } from './targets.js';

export interface LocalChecksDeps {
  readonly engine: Engine;
  readonly runner: Runner;
  readonly logger: Logger;
  /** Epoch ms for the check results' stamps. */
  readonly now: () => number;
  /** The scheduler's clock (default: the system clock). */
  readonly clock?: Clock;
}

export class LocalChecks implements LocalVerdicts {
  readonly health = new Map<string, Health>();
  private readonly reasons = new Map<string, string>();
  readonly scheduler: Scheduler;
  private sink: HealthSink | undefined;

  constructor(private readonly deps: LocalChecksDeps) {
    const { engine, runner, logger, now } = deps;
    this.scheduler = new Scheduler({
      probeFor: (check) => probeFor(check, { runner }),
      ...(deps.clock ? { clock: deps.clock } : {}),
      // A literal, not `{ ...result, at }`: V8 promotes those spread copies to the old generation
      // by the thousand a second (measured with bench/capacity.ts), an object literal dies young.
      onResult: (target, result) => engine.recordCheck(target.farm, target.backend, { ok: result.ok, message: result.message, latencyMs: result.latencyMs, at: now() }),
      onTransition: (target, transition) => this.observe(target.farm, target.backend, transition.to, transition.reason),
      onError: (err) => logger.error({ err: String(err) }, 'check callback failed'),
    });
    for (const [key, rt] of engine.runtime) this.health.set(key, rt.health);
  }

  reason(key: string): string | undefined {
    return this.reasons.get(key);
  }

  /** Verdicts go to `sink` from now on (the cluster while it runs); to the engine when undefined. */
  routeTo(sink: HealthSink | undefined): void {
    this.sink = sink;
  }

  /** A verdict of this node's own checks: the engine applies it, or the cluster's policy decides. */
  observe(farm: string, backend: string, health: Health, reason: string): void {
    const key = markKey(farm, backend);
    this.health.set(key, health);
    this.reasons.set(key, reason);
    if (this.sink) this.sink.observe(key);
    else this.deps.engine.setHealth(farm, backend, health, reason);
  }

  /** Schedules the checks of `config` (the engine already runs it), from the health the engine holds. */
  useConfig(config: Config): void {
    const { engine } = this.deps;
    this.scheduler.replaceAll(scheduledChecks(config, (key) => engine.runtime.get(key)?.health));
    pauseMaintained(config, (farm, backend) => engine.adminOf(farm, backend), this.scheduler);
  }

  /** The backend's check under the running config. */
  scheduledCheck(farm: string, backend: string): ScheduledCheck | undefined {
    const { engine } = this.deps;
    const farmConfig = engine.farmConfig(farm);
    return farmConfig && scheduledChecks({ ...engine.config, farms: [farmConfig] }, () => undefined).find((c) => c.target.backend === backend);
  }

  stop(): Promise<void> {
    return this.scheduler.stop();
  }
}
