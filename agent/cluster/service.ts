// Starts cluster sync for a daemon with a `cluster` section: adapts the daemon to ClusterHost,
// keeps the shared config across restarts, and exposes the view that status and metrics read.

import type { Daemon } from '../daemon/main.js';
import type { ClusterConfig } from '../../config/schema.js';
import type { ClusterState } from '../control/status.js';
import { splitMarkKey } from '../plan/marks.js';
import type { Health } from '../plan/plan.js';
import { writeAppliedShared } from '../state/shared-config.js';
import { VERSION } from '../version.js';
import { RedisPeerStore, type PeerStore } from './store.js';
import { ClusterSync } from './sync.js';

// Moved to state/shared-config.ts (the daemon reads it without loading ioredis); kept here so
// importers of the old path still work.
export { readAppliedShared, writeAppliedShared } from '../state/shared-config.js';

export interface ClusterOptions {
  readonly store?: PeerStore;
}

export async function startCluster(daemon: Daemon, cluster: ClusterConfig, options: ClusterOptions = {}): Promise<ClusterSync> {
  const { engine, logger } = daemon;
  const store = options.store ?? new RedisPeerStore(cluster);
  const sync = new ClusterSync(store, cluster, {
    node: daemon.config().node.id,
    version: VERSION,
    virtualRouterId: daemon.config().vrrp?.virtual_router_id ?? null,
    vrrp: () => daemon.vrrp.state,
    localHealth: () => daemon.localHealth,
    // The engine keeps one runtime entry per backend of the running config, no more (reload prunes).
    backends: () => engine.runtime,
    appliedHealth: (key) => engine.runtime.get(key)?.health,
    applyHealth: (key, health: Health, reason) => {
      const [farm, backend] = splitMarkKey(key) ?? [];
      if (farm === undefined || backend === undefined) return;
      engine.setHealth(farm, backend, health, reason === 'own checks' ? daemon.localReasons.get(key) ?? reason : reason);
    },
    applyAdmin: async (key, admin) => {
      const [farm, backend] = splitMarkKey(key) ?? [];
      if (farm === undefined || backend === undefined) return;
      if (engine.runtime.has(key)) await engine.setAdmin(farm, backend, admin);
    },
    lastApply: () => engine.dataplane.lastApplyAt,
    applySharedConfig: async (shared) => {
      const error = await daemon.applySharedFarms(shared.farms, shared.rev);
      if (!error) await writeAppliedShared(daemon.config().node.state_dir, shared);
      return error;
    },
  }, logger);
  // The revision the daemon runs: the one it read from the state dir at startup when those
  // farms validated, else 0, so the cluster's current revision is applied (or refused, visibly)
  // on connect instead of reported as applied unchecked.
  sync.startFromRevision(daemon.sharedRevision());
  daemon.cluster = {
    get state(): ClusterState { return sync.connectedNow() ? 'connected' : 'disconnected'; },
    peers: () => sync.peerList().map((p) => ({
      node: p.node, vrrp: p.vrrp, last_seen: new Date(Date.now() - p.ageMs).toISOString(), age_ms: p.ageMs,
      config_revision: p.configRevision, config_error: p.configError,
    })),
    views: (key) => sync.views(key),
    splitBrain: () => [...sync.splitBrains].map(([vrid, masters]) => ({ virtual_router_id: vrid, masters })),
    // What runs, not sync.revision: that also counts a revision this node refused.
    revision: () => daemon.sharedRevision(),
    sync,
  };
  daemon.services.push({ name: 'cluster', stop: () => sync.stop() });
  await sync.start();
  return sync;
}
