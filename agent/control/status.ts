// Builds `agentctl status --json` (SPEC §3) from a snapshot of the daemon. Pure: the same
// function feeds the socket, the table and the Prometheus gauges, so all three agree.

import type { AdminState } from '../../config/schema.js';
import type { PortRange } from '../../config/net.js';
import type { PlannedFarm } from '../plan/plan.js';
import type { Health } from '../plan/plan.js';
import type { VrrpState } from '../vrrp/state.js';
import { formatMark, markKey } from '../plan/marks.js';
import { DISABLED_BGP, type BgpStatus } from '../bgp/bird-status.js';

export type ClusterState = 'connected' | 'disconnected' | 'disabled';

export interface PeerStatus {
  readonly node: string;
  readonly vrrp: VrrpState;
  /** ISO time of the peer's last heartbeat, when known. */
  readonly last_seen?: string;
  /** Age of that heartbeat. */
  readonly age_ms?: number;
  readonly config_revision?: number;
  /** Why the peer refused the latest shared config, if it did. */
  readonly config_error?: string | null;
}

/** What a cluster module provides (Redis sync); absent means standalone (`disabled`). */
export interface ClusterView {
  readonly state: ClusterState;
  peers(): readonly PeerStatus[];
  /** Every live node's view of a backend ("farm/backend"). */
  views?(key: string): Record<string, Health>;
  /** Virtual routers that more than one node claims as MASTER right now. */
  splitBrain?(): { virtual_router_id: number; masters: string[] }[];
  /** The shared config revision this node runs. */
  revision?(): number;
  /** The admin state each live node applies to a backend ("farm/backend"). */
  adminViews?(key: string): Record<string, AdminState>;
  /** Backends whose nodes have disagreed on the admin state for longer than a resync. */
  adminDisagreements?(): readonly AdminDisagreement[];
  /** Times the cluster store was found to have lost its data since start. */
  dataLosses?(): number;
}

export interface AdminDisagreement {
  /** "farm/backend". */
  readonly backend: string;
  readonly views: Record<string, AdminState>;
  /** ISO time since when the nodes disagree. */
  readonly since: string;
}

export interface LastCheckStatus {
  readonly ok: boolean;
  readonly message: string;
  readonly latency_ms: number;
  readonly at: string;
}

export interface BackendStatus {
  readonly name: string;
  readonly ip: string;
  /** null: the client's destination port is kept (multi-port farms). */
  readonly port: number | null;
  readonly weight: number;
  /** The weight used now (lower while slow start ramps). */
  readonly effective_weight: number;
  readonly priority: number;
  readonly mark: string;
  readonly health: Health;
  readonly admin: AdminState;
  readonly in_chain: boolean;
  readonly share: number;
  readonly health_since: string | null;
  readonly last_check: LastCheckStatus | null;
  /** Clustered: each live node's own view of this backend. */
  readonly views?: Record<string, Health>;
  /** Clustered: the admin state each live node applies (they differ only briefly, or by a fault). */
  readonly admin_views?: Record<string, AdminState>;
}

export interface FarmStatus {
  readonly name: string;
  readonly vip: string;
  readonly ports: readonly (number | string)[];
  readonly protocol: string;
  readonly mode: string;
  readonly algorithm: string;
  readonly backends: readonly BackendStatus[];
}

export interface Status {
  readonly node: string;
  readonly version: string;
  readonly uptime_s: number;
  readonly vrrp: { readonly state: VrrpState; readonly since: string };
  /** Active-active: the BGP speaker's sessions and what this node announces (agent/bgp).
   * buildStatus always sets it (`disabled` without bgp); optional for documents built elsewhere. */
  readonly bgp?: BgpStatus;
  readonly cluster: {
    readonly state: ClusterState;
    readonly peers: readonly PeerStatus[];
    readonly split_brain?: readonly { virtual_router_id: number; masters: string[] }[];
    readonly config_revision?: number;
    readonly admin_disagreements?: readonly AdminDisagreement[];
    readonly data_losses?: number;
  };
  readonly dataplane: {
    readonly driver: string;
    readonly in_sync: boolean;
    readonly last_error: string | null;
    readonly applies: number;
    readonly apply_errors: number;
    readonly last_apply_ms: number | null;
    readonly last_apply_at: string | null;
    readonly drift_repairs: number;
    /** The last repair of drift: when, whether a kernel event or the periodic sweep found it, and what had changed. */
    readonly last_drift: { readonly at: string; readonly how: DriftHow; readonly what: string } | null;
    /** Checks that kernel events about the agent's rules started (each a read of them, and a repair if needed). */
    readonly drift_event_checks: number;
  };
  readonly farms: readonly FarmStatus[];
}

/** How drift was found: a kernel event about the agent's rules, or the periodic sweep. */
export type DriftHow = 'event' | 'sweep';

/** Everything status needs, gathered by the caller (see snapshot.ts); times are epoch ms. */
export interface StatusInput {
  readonly node: string;
  readonly version: string;
  readonly now: number;
  readonly startedAt: number;
  readonly vrrp: { readonly state: VrrpState; readonly since: number };
  /** Absent: no bgp section (status says `disabled`). */
  readonly bgp?: BgpStatus;
  readonly cluster?: ClusterView;
  readonly dataplane: {
    readonly driver: string;
    readonly inSync: boolean;
    readonly lastError: string | null;
    readonly applies: number;
    readonly applyErrors: number;
    readonly lastApplyMs: number | null;
    readonly lastApplyAt: number | null;
    readonly driftRepairs: number;
    /** Epoch ms in `at`; absent: none yet. */
    readonly lastDrift?: { readonly at: number; readonly how: DriftHow; readonly what: string } | null;
    readonly driftEventChecks?: number;
  };
  /** The planned farms: what the rules in the kernel were built from. */
  readonly farms: readonly PlannedFarm[];
  readonly backend: (farm: string, backend: string) => { since?: number; lastCheck?: { ok: boolean; message: string; latencyMs: number; at: number } } | undefined;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const portEntry = (r: PortRange): number | string => (r.from === r.to ? r.from : `${r.from}-${r.to}`);
/** Microsecond precision is plenty and keeps the JSON readable. */
export const round = (n: number, digits: number): number => Number(n.toFixed(digits));
/**
 * A backend's share as status and `agentctl backend` report it: outside the chain exactly 0
 * (SPEC §3), never a rounding remainder.
 */
export const reportedShare = (b: { readonly inChain: boolean; readonly share: number }): number => (b.inChain ? round(b.share, 6) : 0);

export function buildStatus(input: StatusInput): Status {
  const dp = input.dataplane;
  return {
    node: input.node,
    version: input.version,
    uptime_s: Math.max(0, Math.round((input.now - input.startedAt) / 1000)),
    vrrp: { state: input.vrrp.state, since: iso(input.vrrp.since) },
    bgp: input.bgp ?? DISABLED_BGP,
    cluster: input.cluster
      ? {
        state: input.cluster.state, peers: [...input.cluster.peers()],
        ...(input.cluster.splitBrain ? { split_brain: input.cluster.splitBrain() } : {}),
        ...(input.cluster.revision ? { config_revision: input.cluster.revision() } : {}),
        ...(input.cluster.adminDisagreements ? { admin_disagreements: [...input.cluster.adminDisagreements()] } : {}),
        ...(input.cluster.dataLosses ? { data_losses: input.cluster.dataLosses() } : {}),
      }
      : { state: 'disabled', peers: [] },
    dataplane: {
      driver: dp.driver, in_sync: dp.inSync, last_error: dp.lastError, applies: dp.applies, apply_errors: dp.applyErrors,
      last_apply_ms: dp.lastApplyMs === null ? null : round(dp.lastApplyMs, 3),
      last_apply_at: dp.lastApplyAt === null ? null : iso(dp.lastApplyAt), drift_repairs: dp.driftRepairs,
      last_drift: dp.lastDrift ? { at: iso(dp.lastDrift.at), how: dp.lastDrift.how, what: dp.lastDrift.what } : null,
      drift_event_checks: dp.driftEventChecks ?? 0,
    },
    farms: input.farms.map((farm): FarmStatus => ({
      name: farm.name, vip: farm.vip, ports: farm.ports.map(portEntry), protocol: farm.protocol, mode: farm.mode, algorithm: farm.algorithm,
      backends: farm.backends.map((b): BackendStatus => {
        const rt = input.backend(farm.name, b.name);
        const check = rt?.lastCheck;
        return {
          name: b.name, ip: b.ip, port: b.port ?? null, weight: b.weight, effective_weight: round(b.effectiveWeight, 3), priority: b.priority,
          mark: formatMark(b.mark), health: b.health, admin: b.admin, in_chain: b.inChain,
          share: reportedShare(b),
          health_since: rt?.since === undefined ? null : iso(rt.since),
          last_check: check ? { ok: check.ok, message: check.message, latency_ms: round(check.latencyMs, 3), at: iso(check.at) } : null,
          ...(input.cluster?.views ? { views: input.cluster.views(markKey(farm.name, b.name)) } : {}),
          ...(input.cluster?.adminViews ? { admin_views: input.cluster.adminViews(markKey(farm.name, b.name)) } : {}),
        };
      }),
    })),
  };
}
