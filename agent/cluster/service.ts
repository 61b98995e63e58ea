// Cluster sync for a daemon with a `cluster` section: adapts the daemon's ports to ClusterHost,
// keeps the shared config across restarts, and offers the view that status and metrics read,
// the cluster-wide admin actions, and the sink for this node's own check verdicts.

import type { ClusterConfig } from '../../config/schema.js';
import type { ClusterOffer, ClusterPorts, Service } from '../daemon/ports.js';
import type { ClusterState, ClusterView } from '../control/status.js';
import { splitMarkKey } from '../plan/marks.js';
import type { Health } from '../plan/plan.js';
import { readAppliedShared, writeAppliedShared } from '../state/shared-config.js';
import { readClusterActions, writeClusterActions } from '../state/cluster-actions.js';
import { VERSION } from '../version.js';
import { RedisPeerStore, type PeerStore } from './store.js';
import { ClusterSync } from './sync.js';

// Moved to state/shared-config.ts (the daemon reads it without loading ioredis); kept here so
// importers of the old path still work.
export { readAppliedShared, writeAppliedShared } from '../state/shared-config.js';

export interface ClusterOptions {
  readonly store?: PeerStore;
}

/** What the cluster offers, and its life: install the offer, then `start`. */
export interface ClusterService extends ClusterOffer, Service {
  readonly sync: ClusterSync;
  /** Connects to Redis; its trouble is not fatal (the node runs standalone and retries). */
  start(): Promise<void>;
}

/**
 * Builds the sync over the ports, not yet connected: the daemon installs what it offers first,
 * so no verdict of its own checks bypasses the cluster's policy once `start` runs.
 */
export function createCluster(ports: ClusterPorts, cluster: ClusterConfig, options: ClusterOptions = {}): ClusterService {
  const { config, engine, logger } = ports;
  const store = options.store ?? new RedisPeerStore(cluster);
  const sync = new ClusterSync(store, cluster, {
    node: config.config().node.id,
    version: VERSION,
    virtualRouterId: config.config().vrrp?.virtual_router_id ?? null,
    vrrp: () => ports.vrrp.state,
    localHealth: () => ports.verdicts.health,
    // The engine keeps one runtime entry per backend of the running config, no more (reload prunes).
    backends: () => engine.runtime,
    appliedHealth: (key) => engine.runtime.get(key)?.health,
    applyHealth: (key, health: Health, reason) => {
      const [farm, backend] = splitMarkKey(key) ?? [];
      if (farm === undefined || backend === undefined) return;
      engine.setHealth(farm, backend, health, reason === 'own checks' ? ports.verdicts.reason(key) ?? reason : reason);
    },
    applyAdmin: async (key, admin) => {
      const [farm, backend] = splitMarkKey(key) ?? [];
      if (farm === undefined || backend === undefined) return;
      if (engine.runtime.has(key)) await engine.setAdmin(farm, backend, admin);
    },
    appliedAdmin: (key) => {
      const [farm, backend] = splitMarkKey(key) ?? [];
      const farmConfig = farm === undefined ? undefined : engine.farmConfig(farm);
      return farmConfig && backend !== undefined && engine.runtime.has(key) ? engine.adminOf(farmConfig, backend) : undefined;
    },
    lastApply: () => engine.dataplane.lastApplyAt,
    // Only what this node runs: a refused or stale file is not the cluster's state.
    runningShared: async () => {
      const applied = await readAppliedShared(config.config().node.state_dir);
      return applied && applied.rev === config.sharedRevision() ? applied : null;
    },
    journal: {
      load: () => readClusterActions(config.config().node.state_dir),
      save: (actions) => writeClusterActions(config.config().node.state_dir, actions),
    },
    applySharedConfig: async (shared) => {
      const error = await ports.changes.applySharedFarms(shared.farms, shared.rev);
      if (!error) await writeAppliedShared(config.config().node.state_dir, shared);
      return error;
    },
  }, logger);
  // The revision the daemon runs: the one it read from the state dir at startup when those
  // farms validated, else 0, so the cluster's current revision is applied (or refused, visibly)
  // on connect instead of reported as applied unchecked.
  sync.startFromRevision(config.sharedRevision());
  const view: ClusterView = {
    get state(): ClusterState { return sync.connectedNow() ? 'connected' : 'disconnected'; },
    peers: () => sync.peerList().map((p) => ({
      node: p.node, vrrp: p.vrrp, last_seen: new Date(Date.now() - p.ageMs).toISOString(), age_ms: p.ageMs,
      config_revision: p.configRevision, config_error: p.configError,
    })),
    views: (key) => sync.views(key),
    splitBrain: () => [...sync.splitBrains].map(([vrid, masters]) => ({ virtual_router_id: vrid, masters })),
    // What runs, not sync.revision: that also counts a revision this node refused.
    revision: () => config.sharedRevision(),
    adminViews: (key) => ({ ...sync.adminViews(key) }),
    adminDisagreements: () => sync.adminDisagreements().map((d) => ({ backend: d.key, views: { ...d.views }, since: new Date(d.since).toISOString() })),
    dataLosses: () => sync.dataLosses,
  };
  return {
    sync,
    view,
    admin: sync,
    health: sync,
    start: () => sync.start(),
    stop: () => sync.stop(),
    // A reload or a push may change admin states (a config `admin:`) and the set of backends.
    reconfigure: () => sync.reconfigured(),
  };
}
