// What every topology's observer writes the same way: the health and admin state an LB's agent
// reports, on each change, and the end of a daemon the agent runs, seen as its pid changing.

import type { HealthRecord, HistoryRecord } from './history.js';
import type { Status } from '../../agent/control/status.js';

/** Writes a health record for each backend whose state or admin changed since the last call. */
export function healthChanges(lb: string, status: Status | undefined, t: number, last: Map<string, string>, write: (r: HistoryRecord) => void): void {
  for (const farm of status?.farms ?? []) {
    for (const b of farm.backends) {
      if (b.health === 'unknown') continue;
      const h: HealthRecord = { kind: 'health', t, node: lb, farm: farm.name, backend: b.name, state: b.health, admin: b.admin };
      const k = `${farm.name}/${b.name}`;
      if (last.get(k) !== `${h.state}/${h.admin}`) {
        last.set(k, `${h.state}/${h.admin}`);
        write(h);
      }
    }
  }
}

/**
 * Follows a daemon by its pid: writes an exit record when a known pid is replaced or gone.
 * Daemons the agent spawns are not the runner's children, so their exits show this way only.
 */
export function pidWatch(lb: string, proc: 'keepalived' | 'conntrackd' | 'bird', pidOf: () => number | undefined): (t: number, write: (r: HistoryRecord) => void) => void {
  let known: number | undefined;
  return (t, write) => {
    const pid = pidOf();
    if (known !== undefined && pid !== known) write({ kind: 'exit', t, node: lb, process: proc, code: null, signal: null });
    known = pid;
  };
}

/** The final record's status part for one farm: each backend's state and admin. */
export function statusOf(status: Status, farm: string): Record<string, { state: 'up' | 'down'; admin: 'enabled' | 'drain' | 'maintenance' }> {
  const f = status.farms.find((x) => x.name === farm);
  return Object.fromEntries((f?.backends ?? []).map((b) => [b.name, { state: b.health === 'up' ? 'up' as const : 'down' as const, admin: b.admin }]));
}
