// The packet hash of hash-5tuple for both drivers: the client's and the VIP's addresses and ports,
// with the farm's config-derived seed, so every LB of an ECMP group puts a flow in the same bucket
// (the bucket -> backend table is agent/plan/maglev.ts). Pure.
//
// The two drivers hash differently (HMARK's and nft's jhash are not the same function): the LBs
// of one group must run the same driver.

import { formatMark } from '../plan/marks.js';
import type { PlannedFarm } from '../plan/plan.js';

/** The HMARK target writing offset + bucket into the mark, in the form iptables-save prints it. */
export function hmarkFiveTuple(farm: PlannedFarm, offset: number): string {
  const prefix = farm.family === 'ipv6' ? 128 : 32;
  return `-j HMARK --hmark-src-prefix ${prefix} --hmark-dst-prefix ${prefix} --hmark-sport-mask 0xffff --hmark-dport-mask 0xffff `
    + `--hmark-rnd 0x${farm.hashSeed.toString(16).padStart(8, '0')} --hmark-mod ${farm.buckets.length} --hmark-offset ${offset}`;
}

/** The nft expression giving the bucket; `th` reads the ports of TCP, UDP and SCTP alike. */
export function jhashFiveTuple(farm: PlannedFarm): string {
  const ip = farm.family === 'ipv6' ? 'ip6' : 'ip';
  return `jhash ${ip} saddr . ${ip} daddr . th sport . th dport mod ${farm.buckets.length} seed ${formatMark(farm.hashSeed)}`;
}
