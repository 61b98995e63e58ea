// Config -> the list of health checks the scheduler runs (one per backend). Pure.

import type { Config } from '../../config/schema.js';
import type { ScheduledCheck } from '../../checks/scheduler.js';
import type { Health } from '../plan/plan.js';
import { markKey } from '../plan/marks.js';

export function scheduledChecks(config: Config, healthOf: (key: string) => Health | undefined): ScheduledCheck[] {
  return config.farms.flatMap((farm) => farm.backends.map((b): ScheduledCheck => {
    const initial = healthOf(markKey(farm.name, b.name));
    return {
      // A backend without a port keeps the client's port; its check then needs check.port
      // (enforced by the config), so 0 is never probed.
      target: { farm: farm.name, backend: b.name, ip: b.ip, port: b.port ?? farm.check.port ?? 0 },
      check: farm.check,
      ...(initial ? { initial } : {}),
    };
  }));
}
