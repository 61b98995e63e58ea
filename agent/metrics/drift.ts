// Drift repairs by how they were found (a kernel event or the sweep), counted where the repair
// happens (agent/daemon/drift.ts). The drift watch starts before the metrics listener, and the
// listener may never start, so the counter lives here and each metrics registry adopts it.

import { Counter, type Registry } from 'prom-client';

/** How a drift was found: a kernel event about the agent's objects, or the periodic sweep. */
export type DriftHow = 'event' | 'sweep';

const HOWS: readonly DriftHow[] = ['event', 'sweep'];

/** What the drift watch tells of each repair. */
export interface DriftRepairs {
  repaired(how: DriftHow): void;
}

export class DriftRepairMetric implements DriftRepairs {
  readonly counter = new Counter({
    name: 'ha_agent_drift_repairs_total',
    help: 'Times the kernel rules had drifted and were rewritten, by how the drift was found (event, sweep)',
    labelNames: ['how'] as const,
    registers: [],
  });

  constructor() {
    // Both series exist from the start, so a rate over them is defined before the first repair.
    for (const how of HOWS) this.counter.inc({ how }, 0);
  }

  repaired(how: DriftHow): void {
    this.counter.inc({ how });
  }

  /** Adds the counter to a registry (each metrics listener has its own). */
  registerIn(registry: Registry): void {
    registry.registerMetric(this.counter);
  }
}

/** The daemon's counter, one per process. */
export const driftRepairMetric = new DriftRepairMetric();
