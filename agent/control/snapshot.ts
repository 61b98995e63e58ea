// Gathers the daemon's live state into a StatusInput; shared by the control API and /metrics.

import { markKey } from '../plan/marks.js';
import { VERSION } from '../version.js';
import type { Daemon } from '../daemon/main.js';
import { buildStatus, type Status } from './status.js';

export function daemonStatus(daemon: Daemon): Status {
  const { engine } = daemon;
  const dp = engine.dataplane;
  return buildStatus({
    node: daemon.config().node.id,
    version: VERSION,
    now: Date.now(),
    startedAt: daemon.startedAt,
    vrrp: { state: daemon.vrrp.state, since: daemon.vrrp.since },
    ...(daemon.cluster ? { cluster: daemon.cluster } : {}),
    dataplane: {
      driver: daemon.netfilter.driver, inSync: dp.inSync, lastError: dp.lastError, applies: dp.applies, applyErrors: dp.applyErrors,
      lastApplyMs: dp.lastApplyMs, lastApplyAt: dp.lastApplyAt, driftRepairs: daemon.drift.repairs,
    },
    farms: engine.desired().farms,
    backend: (farm, backend) => engine.runtime.get(markKey(farm, backend)),
  });
}
