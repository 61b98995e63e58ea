// Maintenance and the checks: a backend put in maintenance has its checks paused; leaving it,
// the backend starts down and must pass `rise` checks again before it takes traffic (an operator
// worked on it: its last verdict from before says nothing).

import type { ScheduledCheck } from '../../checks/scheduler.js';
import type { AdminState, Config, FarmConfig } from '../../config/schema.js';
import { markKey } from '../plan/marks.js';
import type { Health } from '../plan/plan.js';
import type { EngineEvent } from './history.js';

/** The scheduler's controls the policy uses. */
export interface CheckControls {
  pause(key: string): void;
  resume(key: string): void;
  remove(key: string): void;
  add(check: ScheduledCheck): void;
}

export interface MaintenanceDeps {
  on(listener: (event: EngineEvent) => void): () => void;
  readonly checks: CheckControls;
  /** The backend's check under the running config; undefined for an unknown backend. */
  scheduledCheck(farm: string, backend: string): ScheduledCheck | undefined;
  /** A verdict of this node's own checks. */
  observe(farm: string, backend: string, health: Health, reason: string): void;
}

/** Follows admin changes until the returned function is called. */
export function followMaintenance(deps: MaintenanceDeps): () => void {
  return deps.on((event) => {
    if (event.type !== 'admin') return;
    const { farm, backend, from, to } = event;
    const key = markKey(farm, backend);
    if (to === 'maintenance') {
      deps.checks.pause(key);
      return;
    }
    if (from !== 'maintenance') return;
    const item = deps.scheduledCheck(farm, backend);
    if (!item || item.check.type === 'none') {
      deps.checks.resume(key);
      return;
    }
    deps.observe(farm, backend, 'down', 'leaving maintenance: waiting for checks to pass');
    deps.checks.remove(key);
    deps.checks.add({ ...item, initial: 'down' });
  });
}

/** Pauses the checks of every backend in maintenance (after the checks of a config were scheduled). */
export function pauseMaintained(config: Config, adminOf: (farm: FarmConfig, backend: string) => AdminState, checks: Pick<CheckControls, 'pause'>): void {
  for (const farm of config.farms) {
    for (const b of farm.backends) if (adminOf(farm, b.name) === 'maintenance') checks.pause(markKey(farm.name, b.name));
  }
}
