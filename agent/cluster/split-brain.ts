// Split brain as the cluster store shows it: more than one live node claiming MASTER of the same
// virtual router, for longer than a handover takes. Pure: the caller gives the heartbeats read and
// its clock.

import type { VrrpState } from '../vrrp/state.js';
import { splitBrain } from './policy.js';

export interface MasterClaim {
  readonly node: string;
  readonly vrrp: VrrpState;
  readonly virtual_router_id: number | null;
  /** The heartbeat's own timestamp: only compared with the same node's earlier ones. */
  readonly at: number;
}

export interface SplitBrainChange {
  /** Split brains reported from now on: virtual router id -> the nodes claiming MASTER. */
  readonly started: ReadonlyMap<number, string[]>;
  readonly ended: readonly number[];
}

/**
 * Two things look like a split brain without being one, and both were logged as errors in the
 * chaos soak. A node whose agent was SIGKILLed leaves a heartbeat saying MASTER until its TTL
 * runs out, while its peer has long taken over: a heartbeat counts only while it keeps changing
 * (a new one within `staleAfterMs` by this node's clock, so clock skew between nodes plays no
 * part). And in a handover the new MASTER's heartbeat can be read before the old one's next
 * heartbeat says it stepped down: a claim of two masters is reported once it has lasted
 * `graceMs`. A real split brain (the VRRP link cut) lasts as long as its cause.
 */
export class SplitBrainWatch {
  private readonly lastSeen = new Map<string, { at: number; seenAt: number }>();
  private readonly since = new Map<number, number>();
  private reported = new Map<number, string[]>();

  constructor(private readonly self: string, private readonly staleAfterMs: number, private readonly graceMs: number) {}

  /** The split brains reported now. */
  get current(): ReadonlyMap<number, string[]> {
    return this.reported;
  }

  update(claims: readonly MasterClaim[], now: number): SplitBrainChange {
    const live = claims.filter((c) => c.node === this.self || this.fresh(c, now));
    for (const node of this.lastSeen.keys()) if (!claims.some((c) => c.node === node)) this.lastSeen.delete(node);
    const claimed = splitBrain(live);
    for (const vrid of this.since.keys()) if (!claimed.has(vrid)) this.since.delete(vrid);
    const next = new Map<number, string[]>();
    for (const [vrid, nodes] of claimed) {
      const since = this.since.get(vrid) ?? now;
      this.since.set(vrid, since);
      if (now - since >= this.graceMs || this.reported.has(vrid)) next.set(vrid, nodes);
    }
    const started = new Map([...next].filter(([vrid]) => !this.reported.has(vrid)));
    const ended = [...this.reported.keys()].filter((vrid) => !next.has(vrid));
    this.reported = next;
    return { started, ended };
  }

  private fresh(claim: MasterClaim, now: number): boolean {
    const last = this.lastSeen.get(claim.node);
    if (!last || last.at !== claim.at) {
      this.lastSeen.set(claim.node, { at: claim.at, seenAt: now });
      return true;
    }
    return now - last.seenAt <= this.staleAfterMs;
  }
}
