// One line of the NFLOG reader (native/nflog.c) -> a connection record: the farm from the rule's
// prefix, the backend's mark, and the addresses and ports from the packet's headers. Pure.

import { isIPv6 } from 'node:net';

export interface LoggedConnection {
  readonly farm: string;
  readonly mark: number;
  readonly protocol: string;
  readonly src: string;
  readonly sport: number | undefined;
  readonly dst: string;
  readonly dport: number | undefined;
}

const PREFIX = 'ha-agent:';
const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp' };
/** Protocols whose first four bytes are the source and destination ports. */
const PORTED = new Set([6, 17, 132]);

function ipv4(bytes: Buffer, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

function ipv6(bytes: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(at + i).toString(16));
  // The shortest form, as the config writes addresses (canonical: the longest run of zeros as ::).
  const text = groups.join(':');
  const runs = [...text.matchAll(/(?:^|:)0(?::0)+(?::|$)/g)].sort((a, b) => b[0].length - a[0].length);
  const best = runs[0];
  const out = best ? `${text.slice(0, best.index)}::${text.slice(best.index! + best[0].length)}` : text;
  return isIPv6(out) ? out : text;
}

/** A record, or undefined for lines that are not the agent's (other prefixes, "# lost", short packets). */
export function parseNflogLine(line: string): LoggedConnection | undefined {
  const [family, markText, prefix, hex] = line.split(' ');
  if (!prefix?.startsWith(PREFIX) || !hex || !markText) return undefined;
  const bytes = Buffer.from(hex, 'hex');
  let proto: number;
  let src: string;
  let dst: string;
  let l4: number;
  if (family === '2' && bytes.length >= 20) {
    proto = bytes[9]!;
    src = ipv4(bytes, 12);
    dst = ipv4(bytes, 16);
    l4 = (bytes[0]! & 0x0f) * 4;
  } else if (family === '10' && bytes.length >= 40) {
    // Extension headers are not followed: the ports are left out for them.
    proto = bytes[6]!;
    src = ipv6(bytes, 8);
    dst = ipv6(bytes, 24);
    l4 = 40;
  } else {
    return undefined;
  }
  const ported = PORTED.has(proto) && bytes.length >= l4 + 4;
  return {
    farm: prefix.slice(PREFIX.length), mark: Number(markText), protocol: PROTOCOLS[proto] ?? String(proto),
    src, sport: ported ? bytes.readUInt16BE(l4) : undefined, dst, dport: ported ? bytes.readUInt16BE(l4 + 2) : undefined,
  };
}
