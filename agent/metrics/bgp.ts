// The BGP speaker's metrics, set at scrape time from the status's `bgp` block: the same view as
// `agentctl status`, read from what the service last polled from BIRD, so a scrape never asks
// BIRD anything. Conventions as in registry.ts: a state is a `state` label with 1 on the current
// one; per-peer series are rebuilt each scrape so a peer a reload removes loses them.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { BgpState, BgpStatus } from '../bgp/bird-status.js';

const BGP_STATES = ['established', 'connecting', 'down', 'drained', 'disabled'] as const satisfies readonly BgpState[];
/** Fails to compile when BgpState gains a state the list above misses. */
const complete: [Exclude<BgpState, (typeof BGP_STATES)[number]>] extends [never] ? true : never = true;
void complete;

/** 1 while the session is established, 0 in any other state. */
export const sessionUp = (state: string): number => (state === 'established' ? 1 : 0);

export class BgpMetrics {
  private readonly state: Gauge<'state'>;
  private readonly sessionUp: Gauge<'peer'>;
  private readonly bfdUp: Gauge<'peer'>;
  private readonly announced: Gauge;
  private readonly drained: Gauge;
  private readonly restarts: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.state = new Gauge({ name: 'ha_agent_bgp_state', help: 'BGP speaker of this node: 1 for the current state (disabled: no bgp section)', labelNames: ['state'], registers });
    this.sessionUp = new Gauge({ name: 'ha_agent_bgp_session_up', help: 'BGP session to the peer: 1 established, 0 otherwise', labelNames: ['peer'], registers });
    this.bfdUp = new Gauge({ name: 'ha_agent_bgp_bfd_up', help: 'BFD session to the peer: 1 up, 0 otherwise (no series for a peer with bfd: false)', labelNames: ['peer'], registers });
    this.announced = new Gauge({ name: 'ha_agent_bgp_announced_prefixes', help: 'VIP prefixes this node announces now', registers });
    this.drained = new Gauge({ name: 'ha_agent_bgp_drained', help: '1 while the node is drained (agentctl node drain): no VIP announced', registers });
    this.restarts = new Counter({ name: 'ha_agent_bgp_speaker_restarts_total', help: 'Times the BIRD the agent runs (speaker mode spawn) exited and was started again', registers });
  }

  /** `bgp` absent (an older status document) reads as disabled. */
  set(bgp: BgpStatus | undefined): void {
    const state = bgp?.state ?? 'disabled';
    for (const s of BGP_STATES) this.state.set({ state: s }, s === state ? 1 : 0);
    this.sessionUp.reset();
    this.bfdUp.reset();
    if (!bgp || state === 'disabled') {
      // Without a speaker the per-peer series go; the unlabelled ones read 0 (prom-client keeps them).
      for (const metric of [this.announced, this.drained, this.restarts]) metric.reset();
      return;
    }
    for (const peer of bgp.peers) {
      this.sessionUp.set({ peer: peer.address }, sessionUp(peer.state));
      if (peer.bfd !== 'disabled') this.bfdUp.set({ peer: peer.address }, peer.bfd === 'up' ? 1 : 0);
    }
    this.announced.set(bgp.announced.length);
    this.drained.set(state === 'drained' ? 1 : 0);
    // Kept by the service; reported as is.
    this.restarts.reset();
    this.restarts.inc(bgp.speaker_restarts ?? 0);
  }
}
