// Config -> the list of health checks the scheduler runs (one per backend). Pure.

import type { BackendConfig, Config, FarmConfig } from '../../config/schema.js';
import type { ScheduledCheck } from '../../checks/scheduler.js';
import type { Health } from '../plan/plan.js';
import { markKey } from '../plan/marks.js';

export function scheduledChecks(config: Config, healthOf: (key: string) => Health | undefined): ScheduledCheck[] {
  return config.farms.flatMap((farm) => farm.backends.map((b): ScheduledCheck => {
    const initial = healthOf(markKey(farm.name, b.name));
    return {
      target: { farm: farm.name, backend: b.name, ip: b.ip, port: checkPort(farm, b) },
      check: farm.check,
      ...(initial ? { initial } : {}),
    };
  }));
}

/**
 * The port a backend's check probes: its own `check_port`, else the farm's `check.port`, else its
 * service port. A backend without a port (it keeps the client's port) needs one of the first two
 * (enforced by the config), so 0 is never probed.
 */
export function checkPort(farm: FarmConfig, backend: BackendConfig): number {
  return backend.check_port ?? farm.check.port ?? backend.port ?? 0;
}
