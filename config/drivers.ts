// What each dataplane driver cannot do with the farms it is given: check-config refuses these
// combinations by name, rather than a driver silently doing something else. Pure.

import type { Config, FarmConfig } from './schema.js';

export type DriverName = Config['dataplane']['driver'];

/** One thing a driver cannot express: which farms it concerns, the key to name, and why. */
interface Limit {
  readonly driver: DriverName;
  /** The key of the farm (under farms[i]) the message is about, when the farm has the combination. */
  readonly applies: (farm: FarmConfig) => string | undefined;
  readonly why: string;
}

const LIMITS: readonly Limit[] = [];

export function driverIssues(driver: DriverName, farms: readonly (FarmConfig | undefined)[], add: (path: string, message: string) => void): void {
  farms.forEach((farm, f) => {
    if (!farm) return;
    for (const limit of LIMITS) {
      if (limit.driver !== driver) continue;
      const key = limit.applies(farm);
      if (key !== undefined) add(`farms[${f}].${key}`, `the ${driver} driver ${limit.why}`);
    }
  });
}
