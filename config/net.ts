// Address, port and URL syntax shared by the schema and by everything that reads untrusted input.
// Parsers return the value or, as a string, a message naming what is wrong and the accepted form.

import { isIP, isIPv4, isIPv6 } from 'node:net';

// Node's own parsers: dotted quads only (no "010.0.0.1", no spaces), the same rules as its sockets.
export { isIPv4, isIPv6 };

/** "10.0.0.1/24" with a valid address and a prefix 0-32. */
export function isIPv4Cidr(text: string): boolean {
  const [addr, prefix, extra] = text.split('/');
  if (extra !== undefined || addr === undefined || prefix === undefined) return false;
  return isIPv4(addr) && /^(3[0-2]|[12]?\d)$/.test(prefix);
}

/** The IP family of an address already known valid. */
export type IpFamily = 'ipv4' | 'ipv6';
export const ipFamily = (ip: string): IpFamily => (isIPv6(ip) ? 'ipv6' : 'ipv4');

/**
 * An IPv6 address in the one form ip6tables-save, nft and `ip` print (RFC 5952: lowercase, the
 * longest run of zero groups as ::), so rules written and rules read back compare as text.
 * IPv4 addresses are returned as they are.
 */
export function canonicalIp(ip: string): string {
  if (!isIPv6(ip)) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

/** "192.168.1.10:443", "[fd00::10]:443": an endpoint as people and URLs write it. */
export const formatEndpoint = (ip: string, port: number | string): string => (isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`);

export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** Linux interface names: up to 15 characters, no slash, no whitespace. */
export function isInterfaceName(text: string): boolean {
  return /^[A-Za-z0-9_.@:-]{1,15}$/.test(text);
}

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

const inPortRange = (port: number): string | undefined =>
  port >= 1 && port <= 65535 ? undefined : `port ${port} is outside 1-65535`;

/** A single port given as a YAML number (backend.port, check.port). */
export function parsePort(value: unknown): number | string {
  if (typeof value !== 'number') return `expected a port number 1-65535, got ${JSON.stringify(value)}`;
  if (!Number.isInteger(value)) return `${value} is not a whole port number`;
  return inPortRange(value) ?? value;
}

/** One entry of a `ports:` list: 443, "443" or "8000-8010". */
export function parsePortEntry(entry: unknown): PortRange | string {
  if (typeof entry === 'number') {
    const port = parsePort(entry);
    return typeof port === 'string' ? port : { from: port, to: port };
  }
  if (typeof entry !== 'string') return `expected a port or a range like "8000-8010", got ${JSON.stringify(entry)}`;
  const text = entry.trim();
  const match = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(text);
  if (!match) return `${JSON.stringify(text)} is not a port or a range like "8000-8010"`;
  const from = Number(match[1]);
  const to = match[2] === undefined ? from : Number(match[2]);
  const bad = inPortRange(from) ?? inPortRange(to);
  if (bad) return bad;
  if (to < from) return `range "${from}-${to}" is inverted; write it as "${to}-${from}"`;
  return { from, to };
}

/** Sorted by first port, overlapping entries merged ([443, 80, "70-90"] -> 70-90, 443). Adjacent ranges stay apart. */
export function normalisePorts(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from || a.to - b.to);
  const out: PortRange[] = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last && range.from <= last.to) out[out.length - 1] = { from: last.from, to: Math.max(last.to, range.to) };
    else out.push(range);
  }
  return out;
}

/** Whether two lists of ranges share at least one port. */
export function rangesOverlap(a: readonly PortRange[], b: readonly PortRange[]): boolean {
  return portsInBoth(a, b).length > 0;
}

/** The ports two lists of ranges have in common. */
export function portsInBoth(a: readonly PortRange[], b: readonly PortRange[]): PortRange[] {
  const out: PortRange[] = [];
  for (const x of a) {
    for (const y of b) {
      if (x.from <= y.to && y.from <= x.to) out.push({ from: Math.max(x.from, y.from), to: Math.min(x.to, y.to) });
    }
  }
  return normalisePorts(out);
}

/** Formats ranges the way iptables multiport prints them: "443", "8000:8010". */
export function formatPortRange(range: PortRange, separator = ':'): string {
  return range.from === range.to ? String(range.from) : `${range.from}${separator}${range.to}`;
}

/** "host:port" (control.metrics, sentinels): an error message, or undefined when valid. */
export function hostPortError(text: string, example = '127.0.0.1:9798'): string | undefined {
  const match = /^([A-Za-z0-9.-]+|\[([^\]]+)\]):(\d{1,5})$/.exec(text);
  if (!match || (match[2] !== undefined && !isIPv6(match[2]))) return `${JSON.stringify(text)} is not host:port like ${example}`;
  return inPortRange(Number(match[3]));
}

/**
 * An address this node listens on (control.metrics): host:port with an IP address, or localhost.
 * A name that only looks like an address ("300.1.1.1") would otherwise pass as a host name and
 * fail only when the daemon binds it.
 */
export function listenAddressError(text: string): string | undefined {
  const example = '127.0.0.1:9798';
  const syntax = hostPortError(text, example);
  if (syntax) return syntax;
  const { host } = parseListen(text);
  if (host === 'localhost' || isIP(host) !== 0) return undefined;
  return `${JSON.stringify(text.slice(0, text.lastIndexOf(':')))} is not an IP address to listen on; give one like ${example} or [::1]:9798`;
}

/** "127.0.0.1:9798" or "[::1]:9798" -> host and port; the text passed hostPortError first. */
export function parseListen(listen: string): { host: string; port: number } {
  // The last colon: an IPv6 host has colons of its own, inside the brackets.
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(listen.slice(colon + 1)) };
}

/**
 * Hides the password of a URL before it is echoed in a message or a log: up to the last `@`, so
 * an unescaped `@` or `/` in it hides all of it; text that is not URL-shaped but has an `@` loses
 * everything before it (a mistyped scheme must not print the password either).
 */
export function redactUrl(text: string): string {
  const withPassword = /^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:).*@/is;
  if (withPassword.test(text)) return text.replace(withPassword, '$1***@');
  if (/^[a-z][a-z0-9+.-]*:\/\/[^:@/]*@/i.test(text) || !text.includes('@')) return text;
  return `***${text.slice(text.lastIndexOf('@'))}`;
}

const REDIS_EXAMPLE = 'expected a URL like redis://127.0.0.1:6379/0 (rediss:// for TLS)';

/** redis://[user:pass@]host[:port][/db] or rediss://...: an error message, or undefined when valid. */
export function redisUrlError(text: string): string | undefined {
  const shown = JSON.stringify(redactUrl(text));
  if (!/^rediss?:\/\//i.test(text)) return `${shown} is not a redis:// or rediss:// URL; ${REDIS_EXAMPLE}`;
  const port = /^rediss?:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/?#]*):(\d+)/i.exec(text)?.[1];
  const badPort = port === undefined ? undefined : inPortRange(Number(port));
  if (badPort) return `${shown}: ${badPort}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${shown} is not a valid URL; ${REDIS_EXAMPLE}`;
  }
  if (!url.hostname) return `${shown} has no host; ${REDIS_EXAMPLE}`;
  if (!/^\/?(\d+)?$/.test(url.pathname)) return `${shown}: the database must be a number, like /0`;
  // ioredis reads a query as client options (password among them): keys of their own are clearer.
  if (url.search !== '' || url.hash !== '') {
    return `${JSON.stringify(redactUrl(text.replace(/[?#].*$/s, '')))}: options after ? or # are not read (not shown here: they may hold a password); use the cluster keys (password_file, tls)`;
  }
  return undefined;
}
