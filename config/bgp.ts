// The `bgp` section (SPEC §4): N active LBs behind the routers' ECMP announce the farm VIPs with
// BGP from BIRD 2, with BFD towards each peer. The schema here; the rules across sections
// (vrrp and bgp for one VIP) in bgpIssues, called from semantics.ts.

import { z } from 'zod';
import { absolutePath, duration, ipv4, quote, text, wholeNumber } from './fields.js';
import { formatDuration } from './duration.js';
import { canonicalIp, isIPv4, isIPv6 } from './net.js';

const peerAddress = text('an IPv4 or IPv6 address like 10.51.0.1', (s) =>
  (isIPv4(s) || isIPv6(s) ? undefined : `${quote(s)} is not an ${s.includes(':') ? 'IPv6' : 'IPv4'} address`)).transform(canonicalIp);

/** 4-byte AS numbers (RFC 6793); 0 and 65535 / 4294967295 are reserved (RFC 7300). */
const asn = wholeNumber(1, 4_294_967_294);

/** BIRD's BFD takes intervals in whole milliseconds and above 0; RFC 5880 multipliers are 8 bit. */
const bfdInterval = duration.superRefine((ms, ctx) => {
  if (ms < 10) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${formatDuration(ms)} is below 10ms, faster than BFD runs reliably in software` });
});

export const bgpPeerSchema = z.object({
  address: peerAddress,
  asn,
  /** The session follows a BFD session to the peer: a dead LB leaves the ECMP route in
   * interval x multiplier instead of BGP's hold time. */
  bfd: z.boolean().default(true),
  port: wholeNumber(1, 65535).default(179),
  /** Hops to the peer; 1 (directly connected) unless the router is further away. */
  multihop: wholeNumber(1, 255).optional(),
}, { invalid_type_error: 'expected a peer: a mapping like { address: 10.51.0.1, asn: 65000, bfd: true }' }).strict();

export const SPEAKER_MODES = ['spawn', 'external'] as const;
export type SpeakerMode = (typeof SPEAKER_MODES)[number];

export const bgpSchema = z.object({
  asn,
  /** Optional: by default the address this node uses towards its first peer. */
  router_id: ipv4.optional(),
  peers: z.array(bgpPeerSchema, { invalid_type_error: 'expected a list of peers' }).min(1, 'bgp needs at least one peer'),
  bfd: z.object({
    interval: bfdInterval.default('100ms'),
    multiplier: wholeNumber(1, 255).default(3),
  }).strict().default({}),
  speaker: z.object({
    /** spawn: the agent renders bird.conf and runs BIRD; external: the operator's BIRD includes
     * the file of announced routes the agent writes (include_path). */
    mode: z.enum(SPEAKER_MODES).default('spawn'),
    binary: z.string().min(1).default('bird'),
    birdc: z.string().min(1).default('birdc'),
    /** external: the operator's BIRD control socket, which the agent asks to re-read its config. */
    socket: absolutePath.optional(),
    /** external: where the announced-route include file goes (default: node.run_dir/bird-vips.conf). */
    include_path: absolutePath.optional(),
  }).strict().default({}),
}, { invalid_type_error: 'expected bgp: a mapping with asn and peers' }).strict();

export type BgpConfig = z.output<typeof bgpSchema>;
export type BgpPeerConfig = z.output<typeof bgpPeerSchema>;

type Add = (path: string, message: string) => void;

interface BgpParts {
  readonly bgp?: BgpConfig | null;
  readonly vrrp?: unknown;
  readonly farms: readonly ({ readonly vip: string } | undefined)[];
}

/** Rules across the bgp section and the rest: peers once each, and a VIP managed one way only. */
export function bgpIssues(config: BgpParts, add: Add): void {
  const bgp = config.bgp;
  if (bgp) {
    bgp.peers.forEach((peer, i) => {
      const first = bgp.peers.findIndex((p) => p.address === peer.address);
      if (first !== i) add(`bgp.peers[${i}].address`, `duplicate peer ${peer.address} (also peers[${first}])`);
    });
    if (bgp.speaker.mode === 'spawn' && (bgp.speaker.socket !== undefined || bgp.speaker.include_path !== undefined)) {
      add('bgp.speaker', 'socket and include_path are for mode external (the operator\'s BIRD); in spawn mode the agent keeps its BIRD\'s files in node.run_dir');
    }
  }
  // keepalived moves every farm VIP, and BGP announces every farm VIP: both would fight over them.
  if (config.bgp !== undefined && config.vrrp !== undefined) {
    const f = config.farms.findIndex((farm) => farm !== undefined);
    const what = f >= 0 ? `farms[${f}].vip ${config.farms[f]!.vip} would be both moved by VRRP and announced with BGP` : 'farm VIPs would be both moved by VRRP and announced with BGP';
    add('bgp', `${what}; a node's VIPs are managed one way: remove the vrrp section (active-active behind ECMP) or the bgp section (an active-backup pair)`);
  }
}

interface AdviceParts {
  readonly bgp?: BgpConfig | null;
  readonly farms: readonly { readonly name: string; readonly algorithm: string }[];
  readonly cluster?: { readonly health_policy: string } | null;
}

/**
 * Advice, not errors (the agent runs): every LB behind ECMP must build the same hash-5tuple bucket
 * table, which it computes from its health view; LBs that each trust their own checks can
 * disagree about a backend, and a flow that the routers move to another LB then lands on another
 * backend. A quorum policy gives every LB the cluster's one view.
 */
export function bgpAdvice(config: AdviceParts): string[] {
  if (!config.bgp) return [];
  const hashed = config.farms.filter((f) => f.algorithm === 'hash-5tuple').map((f) => f.name);
  if (hashed.length === 0 || config.cluster?.health_policy === 'quorum') return [];
  const why = `bgp with hash-5tuple farms (${hashed.join(', ')}): every LB must build the same bucket table from the same health view, ` +
    'or a flow moved to another LB may reach another backend';
  return [config.cluster
    ? `cluster.health_policy: ${why}; it is ${config.cluster.health_policy}, set it to quorum`
    : `cluster: ${why}; without a cluster each LB follows its own checks: add cluster: { redis: ..., health_policy: quorum }`];
}
