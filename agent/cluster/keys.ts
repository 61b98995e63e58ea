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
  /** Revision counter for actions and config pushes (never lowered: see order.ts). */
  readonly revision: string;
  /**
   * Written once (SET NX) by the first node to beat into an empty store: a new value means the
   * store lost its data (a restart without persistence, FLUSHALL, eviction), and the nodes
   * republish what they hold.
   */
  readonly epoch: string;
  /** One node's health observations: hash "farm/backend" -> health. */
  health(id: string): string;
  /** The admin state one node applies: hash "farm/backend" -> enabled | drain | maintenance. */
  admin(id: string): string;
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
    epoch: `${tag}:epoch`,
    health: (id) => `${tag}:health:${id}`,
    admin: (id) => `${tag}:admin:${id}`,
    config: `${tag}:config`,
    channel: `${tag}:events`,
  };
}
