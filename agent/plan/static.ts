// The desired state for a config when a given set of backends is down and all others are up:
// what `ha-agent render` prints. Pure.

import type { Config } from '../../config/schema.js';
import { assignMarks, markKey } from './marks.js';
import { plan, type DesiredState } from './plan.js';

export function parseDownList(config: Config, down: readonly string[]): { keys: Set<string>; errors: string[] } {
  const keys = new Set<string>();
  const errors: string[] = [];
  for (const item of down) {
    const [farmName, backendName, extra] = item.split('/');
    const farm = config.farms.find((f) => f.name === farmName);
    if (extra !== undefined || !farmName || !backendName) errors.push(`--down ${JSON.stringify(item)}: expected FARM/BACKEND`);
    else if (!farm) errors.push(`--down ${item}: no farm named "${farmName}"`);
    else if (!farm.backends.some((b) => b.name === backendName)) errors.push(`--down ${item}: farm "${farmName}" has no backend "${backendName}"`);
    else keys.add(markKey(farmName, backendName));
  }
  return { keys, errors };
}

export function staticPlan(config: Config, down: ReadonlySet<string>, previousMarks?: ReadonlyMap<string, number>): DesiredState {
  const marks = assignMarks(config, { min: config.dataplane.mark_min, max: config.dataplane.mark_max }, previousMarks);
  // Admin is left to plan(), which takes each backend's configured state.
  return plan(config, marks, (farm, backend) => ({ health: down.has(markKey(farm, backend)) ? 'down' : 'up' }));
}
