// The status source of the running daemon: gathers its live state into a StatusInput when asked;
// shared by the control API and /metrics.

import type { Config } from '../../config/schema.js';
import type { BgpStatus } from '../bgp/bird-status.js';
import type { StatusSource, VrrpSource } from '../daemon/ports.js';
import type { BackendRuntime, DataplaneStatus } from '../engine/engine.js';
import { markKey } from '../plan/marks.js';
import type { DesiredState } from '../plan/plan.js';
import { VERSION } from '../version.js';
import { buildStatus, type ClusterView, type DriftHow } from './status.js';

/** What the status is gathered from. */
export interface StatusParts {
  config(): Config;
  readonly startedAt: number;
  readonly vrrp: VrrpSource;
  /** The cluster's view while one runs; status says `disabled` while absent. */
  cluster(): ClusterView | undefined;
  /** The BGP speaker's status while one runs. */
  bgp?(): BgpStatus | undefined;
  readonly engine: {
    readonly dataplane: Readonly<DataplaneStatus>;
    readonly runtime: ReadonlyMap<string, BackendRuntime>;
    desired(): DesiredState;
  };
  readonly driver: string;
  driftRepairs(): number;
  /** The drift watch: its last repair and how many checks events started. */
  drift?(): { readonly lastDrift: { at: number; how: DriftHow; what: string } | null; readonly eventChecks: number };
  /** Epoch ms (default Date.now). */
  now?(): number;
}

export function statusSource(parts: StatusParts): StatusSource {
  return {
    status: () => {
      const { engine } = parts;
      const dp = engine.dataplane;
      const cluster = parts.cluster();
      const drift = parts.drift?.();
      return buildStatus({
        node: parts.config().node.id,
        version: VERSION,
        now: parts.now?.() ?? Date.now(),
        startedAt: parts.startedAt,
        vrrp: { state: parts.vrrp.state, since: parts.vrrp.since },
        ...(parts.bgp?.() ? { bgp: parts.bgp()! } : {}),
        ...(cluster ? { cluster } : {}),
        dataplane: {
          driver: parts.driver, inSync: dp.inSync, lastError: dp.lastError, applies: dp.applies, applyErrors: dp.applyErrors,
          lastApplyMs: dp.lastApplyMs, lastApplyAt: dp.lastApplyAt, driftRepairs: parts.driftRepairs(),
          lastDrift: drift?.lastDrift ?? null, driftEventChecks: drift?.eventChecks ?? 0,
        },
        farms: engine.desired().farms,
        backend: (farm, backend) => engine.runtime.get(markKey(farm, backend)),
      });
    },
  };
}
