// Starts cluster sync for a daemon with a `cluster` section: adapts the daemon to ClusterHost,
// keeps the shared config across restarts, and exposes the view that status and metrics read.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Daemon } from '../daemon/main.js';
import type { ClusterConfig } from '../../config/schema.js';
import type { ClusterState } from '../control/status.js';
import { markKey, splitMarkKey } from '../plan/marks.js';
import type { Health } from '../plan/plan.js';
import { writeFileAtomic } from '../state/atomic-write.js';
import { VERSION } from '../version.js';
import { parseValue, sharedConfigSchema, type SharedConfig } from './messages.js';
import { RedisPeerStore, type PeerStore } from './store.js';
import { ClusterSync } from './sync.js';

const SHARED_FILE = 'cluster-config.json';

/** The shared config this node last applied, kept in the state dir so a restart keeps it. */
export async function readAppliedShared(stateDir: string): Promise<SharedConfig | null> {
  try {
    const parsed = parseValue(sharedConfigSchema, await readFile(join(stateDir, SHARED_FILE), 'utf8'));
    return parsed.ok ? parsed.value : null;
  } catch {
    return null;
  }
}

export async function writeAppliedShared(stateDir: string, shared: SharedConfig): Promise<void> {
  await writeFileAtomic(join(stateDir, SHARED_FILE), `${JSON.stringify(shared)}\n`, 0o640);
}

export interface ClusterOptions {
  readonly store?: PeerStore;
  /**
   * The shared config revision the daemon runs: the one it read from the state dir at startup
   * when those farms validated. Without it none is assumed, so the cluster's current revision is
   * applied (or refused, visibly) on connect instead of reported as applied unchecked.
   */
  readonly appliedRevision?: number;
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
    backends: () => engine.config.farms.flatMap((f) => f.backends.map((b) => markKey(f.name, b.name))),
    appliedHealth: (key) => engine.runtime.get(key)?.health,
    applyHealth: (key, health: Health, reason) => {
      const [farm, backend] = splitMarkKey(key) ?? [];
      if (farm === undefined || backend === undefined) return;
      engine.setHealth(farm, backend, health, reason === 'own checks' ? daemon.localReasons.get(key) ?? reason : reason);
    },
    applyAdmin: async (key, admin) => {
      const [farm, backend] = splitMarkKey(key) ?? [];
      if (farm === undefined || backend === undefined) return;
      if (engine.farmConfig(farm)?.backends.some((b) => b.name === backend)) await engine.setAdmin(farm, backend, admin);
    },
    lastApply: () => engine.dataplane.lastApplyAt,
    applySharedConfig: async (shared) => {
      const error = await daemon.applySharedFarms(shared.farms, shared.rev);
      if (!error) await writeAppliedShared(daemon.config().node.state_dir, shared);
      return error;
    },
  }, logger);
  if (options.appliedRevision !== undefined) sync.startFromRevision(options.appliedRevision);
  daemon.cluster = {
    get state(): ClusterState { return sync.connectedNow() ? 'connected' : 'disconnected'; },
    peers: () => sync.peerList().map((p) => ({
      node: p.node, vrrp: p.vrrp, last_seen: new Date(Date.now() - p.ageMs).toISOString(), age_ms: p.ageMs,
      config_revision: p.configRevision, config_error: p.configError,
    })),
    views: (key) => sync.views(key),
    splitBrain: () => [...sync.splitBrains].map(([vrid, masters]) => ({ virtual_router_id: vrid, masters })),
    revision: () => sync.revision,
    sync,
  };
  daemon.services.push({ name: 'cluster', stop: () => sync.stop() });
  await sync.start();
  return sync;
}
