// Which health a node applies, given its own probes and its live peers' views (cluster
// health_policy). Pure.

import type { Health } from '../plan/plan.js';
import type { VrrpState } from '../vrrp/state.js';

export type HealthPolicy = 'local' | 'master' | 'quorum';

export interface PeerView {
  readonly node: string;
  readonly vrrp: VrrpState;
  /** farm/backend -> that node's observation. */
  readonly health: ReadonlyMap<string, Health>;
}

export interface PolicyInput {
  readonly policy: HealthPolicy;
  readonly selfVrrp: VrrpState;
  /** This node's own observations. */
  readonly local: ReadonlyMap<string, Health>;
  /** Live peers (heartbeat not expired), not including this node. */
  readonly peers: readonly PeerView[];
}

/** The health to apply for one backend. */
export function effectiveHealth(input: PolicyInput, key: string): Health {
  const own = input.local.get(key) ?? 'unknown';
  switch (input.policy) {
    case 'local':
      return own;
    case 'master': {
      // A BACKUP applies what the MASTER sees, so after failover its rules are already right.
      // The MASTER itself, or a node that sees no single live MASTER, trusts its own probes.
      if (input.selfVrrp === 'MASTER') return own;
      const masters = input.peers.filter((p) => p.vrrp === 'MASTER');
      if (masters.length !== 1) return own;
      return masters[0]!.health.get(key) ?? own;
    }
    case 'quorum': {
      // Down only when a strict majority of live nodes (this one included) sees it down, so one
      // LB's own network trouble does not take backends out.
      const views = [own, ...input.peers.map((p) => p.health.get(key) ?? 'unknown')];
      const down = views.filter((h) => h === 'down').length;
      if (down * 2 > views.length) return 'down';
      // No majority down: up when any node sees it up, else this node's own view.
      return views.includes('up') ? 'up' : own;
    }
    default: {
      const never: never = input.policy;
      throw new Error(`unknown policy ${String(never)}`);
    }
  }
}

/** Node ids that claim MASTER for the same virtual router at once: a split brain when > 1. */
export function splitBrain(nodes: readonly { node: string; vrrp: VrrpState; virtual_router_id: number | null }[]): Map<number, string[]> {
  const masters = new Map<number, string[]>();
  for (const n of nodes) {
    if (n.vrrp !== 'MASTER' || n.virtual_router_id === null) continue;
    masters.set(n.virtual_router_id, [...(masters.get(n.virtual_router_id) ?? []), n.node]);
  }
  for (const [vrid, list] of masters) if (list.length < 2) masters.delete(vrid);
  return masters;
}
