// Redis key layout of one cluster. Every key carries the same hash tag, so all of a cluster's
// keys live in one slot and multi-key commands (MULTI, scripts) also work on Redis Cluster;
// several LB pairs share one Redis by prefix and cluster name.

export interface ClusterKeys {
  /** Heartbeat of one node (a string with a TTL). */
  node(id: string): string;
  /**
   * Set of the node ids that wrote a heartbeat: read instead of walking the keyspace, which
   * other clusters and other data share.
   */
  readonly nodes: string;
  /** Operator actions: hash "farm/backend" -> action JSON. */
  readonly actions: string;
  /** Monotonic revision counter for actions and config pushes. */
  readonly revision: string;
  /** One node's health observations: hash "farm/backend" -> health. */
  health(id: string): string;
  /** The shared config (farms) with its revision. */
  readonly config: string;
  /** Pub/sub channel for change notes (a hint only: state is always read back from keys). */
  readonly channel: string;
}

export function clusterKeys(prefix: string, cluster: string): ClusterKeys {
  const tag = `{${prefix}:${cluster}}`;
  return {
    node: (id) => `${tag}:node:${id}`,
    nodes: `${tag}:nodes`,
    actions: `${tag}:actions`,
    revision: `${tag}:revision`,
    health: (id) => `${tag}:health:${id}`,
    config: `${tag}:config`,
    channel: `${tag}:events`,
  };
}
