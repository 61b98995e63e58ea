// BIRD's `show protocols` and `show bfd sessions` -> the `bgp` block of `agentctl status`. Pure.

import type { BgpPeerConfig } from '../../config/bgp.js';
import { peerProtocol } from '../render/bird.js';

export type BgpState = 'established' | 'connecting' | 'down' | 'drained' | 'disabled';
export type PeerState = 'established' | 'connecting' | 'down';

export interface BgpPeerStatus {
  readonly address: string;
  readonly state: PeerState;
  /** up, down, init, admindown as BIRD says; disabled when the peer has bfd: false. */
  readonly bfd: string;
}

export interface BgpStatus {
  readonly state: BgpState;
  readonly peers: readonly BgpPeerStatus[];
  readonly announced: readonly string[];
  /** Spawn mode: times the agent's BIRD exited and was started again (absent in external mode). */
  readonly speaker_restarts?: number;
}

export const DISABLED_BGP: BgpStatus = { state: 'disabled', peers: [], announced: [] };

/** BGP FSM states (RFC 4271 8.2.2) as BIRD names them in the Info column. */
function peerState(info: string | undefined): PeerState {
  if (info === 'Established') return 'established';
  if (info === 'Connect' || info === 'Active' || info === 'OpenSent' || info === 'OpenConfirm') return 'connecting';
  return 'down';
}

export function bgpStatus(
  peers: readonly Pick<BgpPeerConfig, 'address' | 'bfd'>[],
  protocols: string,
  bfdSessions: string,
  announced: readonly string[],
  drained: boolean,
): BgpStatus {
  const info = new Map<string, string>();
  for (const line of protocols.split('\n')) {
    const cols = line.trim().split(/\s+/);
    // name proto table state since-time info...; the Info column may be absent (a protocol just started).
    if (cols[1] === 'BGP' && cols[0]) info.set(cols[0], cols[5] ?? '');
  }
  const bfd = new Map<string, string>();
  for (const line of bfdSessions.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 3 && /[.:]/.test(cols[0]!) && cols[0] !== 'IP') bfd.set(cols[0]!, cols[2]!.toLowerCase());
  }
  const list = peers.map((p): BgpPeerStatus => ({
    address: p.address,
    state: peerState(info.get(peerProtocol(p))),
    bfd: p.bfd ? bfd.get(p.address) ?? 'down' : 'disabled',
  }));
  const state: BgpState = drained ? 'drained'
    : list.some((p) => p.state === 'established') ? 'established'
    : list.some((p) => p.state === 'connecting') ? 'connecting' : 'down';
  return { state, peers: list, announced: [...announced] };
}
