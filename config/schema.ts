// The zod schema for config.yaml (SPEC §4): shape, types, defaults and per-field rules.
// Rules that span several fields (duplicates, VIP clashes, timeout < interval) live in semantics.ts.

import { z } from 'zod';
import { DEFAULT_CONTROL_SOCKET } from './defaults.js';
import { cronScheduleError, DEFAULT_VERIFY_SCHEDULE } from './cron.js';
import { formatDuration } from './duration.js';
import { notifySchema } from './notify.js';
import { bgpSchema } from './bgp.js';
import { clusterSecretIssues } from './secrets.js';
import {
  absolutePath, describeValue, duration, ipv4, markValue, name, quote, readWith, text, wholeNumber,
} from './fields.js';
import {
  canonicalIp, hostPortError, isIPv4, isIPv4Cidr, isIPv6, isInterfaceName, listenAddressError, normalisePorts, parsePort, parsePortEntry, redisUrlError, type PortRange,
} from './net.js';

const cidr = text('an address with a prefix like 192.168.1.1/24',
  (s) => (isIPv4Cidr(s) ? undefined : `${quote(s)} is not an IPv4 address with a prefix (like 192.168.1.1/24)`));

const ifname = text('a network interface name',
  (s) => (isInterfaceName(s) ? undefined : `${quote(s)} is not a network interface name (up to 15 of A-Z a-z 0-9 _ . @ : -)`));

const port = readWith(parsePort);

/**
 * `ports: [443, "8000-8010"]`, sorted and with overlapping entries merged. Empty for `protocol:
 * all`, which takes every port; semantics.ts asks the other protocols for at least one.
 */
const portList = z.array(readWith(parsePortEntry), { invalid_type_error: 'expected a list of ports like [443, "8000-8010"]' })
  .default([])
  .transform(normalisePorts);

/** An IPv4 or IPv6 address (farm VIPs, backends), IPv6 in its canonical form so rules read back
 * from the kernel compare as text. An IPv4-mapped IPv6 address is refused: its packets are IPv4. */
const ipAddress = text('an IPv4 address like 192.168.1.10', ipAddressError).transform(canonicalIp);

function ipAddressError(s: string): string | undefined {
  if (isIPv4(s)) return undefined;
  // What the text looks like decides which family the message names.
  if (!isIPv6(s)) return `${quote(s)} is not an ${s.includes(':') ? 'IPv6' : 'IPv4'} address`;
  return /^::ffff:/i.test(canonicalIp(s)) ? `${quote(s)} is an IPv4-mapped IPv6 address; write the IPv4 address` : undefined;
}

/** What a farm carries: `all` is every protocol (TCP, UDP, ICMP, ...) and every port of the VIP. */
export const FARM_PROTOCOLS = ['tcp', 'udp', 'sctp', 'all'] as const;
export type FarmProtocol = (typeof FARM_PROTOCOLS)[number];

/** Conntrack helpers a farm may attach (with their NAT halves): each reads its protocol's control
 * connection and opens the data connections it announces. */
export const HELPERS = ['ftp', 'sip', 'tftp'] as const;
export type Helper = (typeof HELPERS)[number];

export const FARM_NAME = /^[A-Za-z0-9_-]{1,24}$/;
export const BACKEND_NAME = /^[A-Za-z0-9_-]{1,32}$/;
export const NODE_ID = /^[a-z0-9-]{1,32}$/;

/** `log.level`: pino's levels that SPEC §4 names (HA_AGENT_LOG_LEVEL also takes fatal and silent). */
export const CONFIG_LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

export const ADMIN_STATES = ['enabled', 'drain', 'maintenance'] as const;
export type AdminState = (typeof ADMIN_STATES)[number];

/** 200, "200" or "200-399". */
const statusEntry = readWith((entry): PortRange | string => {
  if (typeof entry === 'number' && !Number.isInteger(entry)) return `${entry} is not an HTTP status`;
  const match = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(typeof entry === 'number' || typeof entry === 'string' ? String(entry).trim() : '');
  if (!match) return `${describeValue(entry)} is not an HTTP status or a range like "200-399"`;
  const from = Number(match[1]);
  const to = match[2] === undefined ? from : Number(match[2]);
  if (from < 100 || to > 599 || to < 100 || from > 599) return `${describeValue(entry)} is outside the HTTP statuses 100-599`;
  if (to < from) return `range "${from}-${to}" is inverted; write it as "${to}-${from}"`;
  return { from, to };
});

const regex = text('a regular expression', (source) => {
  try {
    new RegExp(source);
    return undefined;
  } catch (err) {
    // V8 repeats the pattern in its message ("Invalid regular expression: /([a-z/: Unterminated ...").
    const reason = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    return `${quote(source)} is not a valid regular expression: ${reason}`;
  }
});

const checkTiming = {
  interval: duration.default('2s'),
  timeout: duration.default('1s'),
  rise: wholeNumber(1, 100).default(2),
  fall: wholeNumber(1, 100).default(3),
  /** Probe interval while a backend is between states (HAProxy fastinter). */
  fastinter: duration.optional(),
  /** Probe interval while a backend is down (HAProxy downinter). */
  downinter: duration.optional(),
  /** A recovered backend's weight ramps up over this time. */
  slowstart: duration.optional(),
  /** Probe this port instead of the backend's service port. */
  port: port.optional(),
};

/**
 * A Host header or TLS server name goes into the check request as written: a space or a control
 * character (CR/LF) would split the request line or add headers of its own.
 */
const hostHeaderError = (s: string): string | undefined =>
  (/[\s\x00-\x1f\x7f]/.test(s) ? `${quote(s)} has a space or a control character; a host name has neither` : undefined);

const tls = z.object({
  verify: z.boolean().default(false),
  ca: absolutePath.optional(),
  sni: text('a server name like www.example.com', hostHeaderError).optional(),
}).strict();

const httpCheck = {
  ...checkTiming,
  method: z.enum(['GET', 'HEAD', 'POST', 'OPTIONS']).default('GET'),
  path: text('a URL path like /healthz', (s) => (!s.startsWith('/') ? `${quote(s)} must start with /`
    : /[\s\x00-\x1f\x7f]/.test(s) ? `${quote(s)} has a space or a control character (encode it, e.g. %20)` : undefined)).default('/'),
  host: text('a host name like www.example.com', hostHeaderError).optional(),
  expect_status: z.array(statusEntry, { invalid_type_error: 'expected a list of statuses like [200, "300-399"]' })
    .min(1, 'needs at least one status, like [200]').default(['200-399']),
  expect_body: regex.optional(),
  tls: tls.default({}),
};

const CHECK_TYPES = 'tcp, http, https, exec or none';

/** A check without `type` is a tcp check, as is a farm without `check`. */
const defaultCheckType = (value: unknown): unknown =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !('type' in value) ? { type: 'tcp', ...value } : value;

export const checkSchema = z.preprocess(defaultCheckType, z.discriminatedUnion('type', [
  z.object({ type: z.literal('tcp'), ...checkTiming }).strict(),
  z.object({ type: z.literal('http'), ...httpCheck }).strict(),
  z.object({ type: z.literal('https'), ...httpCheck }).strict(),
  z.object({
    type: z.literal('exec'),
    ...checkTiming,
    command: z.array(z.string({ invalid_type_error: 'expected an argument as a string' }).min(1, 'an argument cannot be empty'),
      { invalid_type_error: 'expected the command as a list of arguments like [check_tcp, -H, "{ip}"]' })
      .min(1, 'the command is empty; give a list of arguments like [check_tcp, -H, "{ip}"]'),
  }).strict(),
  z.object({ type: z.literal('none'), ...checkTiming }).strict(),
], {
  errorMap: (issue, ctx) => {
    if (issue.code === 'invalid_union_discriminator') {
      return { message: `unknown check type ${describeValue((ctx.data as { type?: unknown })?.type)}; expected ${CHECK_TYPES}` };
    }
    if (issue.code === 'invalid_type') return { message: 'expected a check: a mapping like { type: tcp, interval: 2s }' };
    return { message: ctx.defaultError };
  },
}));

export const backendSchema = z.object({
  name: name(BACKEND_NAME, 'backend name', '1-32 letters, digits, _ or -'),
  /** Of the farm's VIP family (semantics.ts). */
  ip: ipAddress,
  /** Absent: keep the port the client connected to (multi-port farms). */
  port: port.optional(),
  /** Probe this port instead (HAProxy's per-server `port`): overrides `port` and the farm's `check.port`. */
  check_port: port.optional(),
  weight: wholeNumber(1, 1000).default(1),
  priority: wholeNumber(1, 1000).default(1),
  admin: z.enum(ADMIN_STATES).default('enabled'),
  /** Pin this backend's fwmark (otherwise derived from farm/backend names). */
  mark: markValue.optional(),
  /** Connections the backend holds at most; a full backend takes no new ones. 0 = no limit. */
  max_conns: wholeNumber(0, 10_000_000).default(0),
}, { invalid_type_error: 'expected a backend: a mapping like { name: app0, ip: 192.168.1.10, port: 443 }' }).strict();

const snatSource = text('vip, masquerade or an IP address', (s) =>
  (s === 'vip' || s === 'masquerade' || isIPv4(s) || isIPv6(s) ? undefined : `${quote(s)} is not vip, masquerade or an ${s.includes(':') ? 'IPv6' : 'IPv4'} address`))
  .transform(canonicalIp);

/** What happens to a new connection over a farm's limits: dropped (the client retries) or refused
 * at once (a TCP reset, else ICMP port unreachable). */
export const LIMIT_ACTIONS = ['drop', 'reject'] as const;

/** Per-farm admission limits on new connections: a rate with a burst, and a cap on the
 * connections the farm holds. */
const limitsSchema = z.object({
  new_per_second: wholeNumber(1, 1_000_000).optional(),
  /** New connections allowed at once above the rate (default: one second's worth). */
  burst: wholeNumber(1, 1_000_000).optional(),
  established: wholeNumber(1, 10_000_000).optional(),
  action: z.enum(LIMIT_ACTIONS).default('reject'),
}, { invalid_type_error: 'expected limits: a mapping like { new_per_second: 1000, burst: 200, established: 10000 }' }).strict();

export const ALGORITHMS = ['weight', 'roundrobin', 'hash-srcip', 'hash-5tuple', 'leastconn'] as const;
/** dnat/snat rewrite the packet; dsr and tunnel route it unchanged to a backend that replies direct (forwarding.ts). */
export const MODES = ['dnat', 'snat', 'dsr', 'tunnel'] as const;

export const farmSchema = z.object({
  name: name(FARM_NAME, 'farm name', '1-24 letters, digits, _ or -'),
  /** IPv4 or IPv6; the farm's rules go to that family's tables (iptables/ip6tables, ip/ip6). */
  vip: ipAddress,
  ports: portList,
  protocol: z.enum(FARM_PROTOCOLS).default('tcp'),
  helper: z.enum(HELPERS).optional(),
  mode: z.enum(MODES).default('dnat'),
  snat_source: snatSource.default('vip'),
  algorithm: z.enum(ALGORITHMS).default('weight'),
  limits: limitsSchema.optional(),
  /** Log each new connection and its backend (NFLOG group dataplane.log_group, prefix ha-agent:<farm>). */
  log: z.boolean().default(false),
  persistence: z.object({ type: z.literal('srcip'), ttl: duration.default('120s') }).strict().optional(),
  check: checkSchema.default({ type: 'tcp' }),
  cut_on_down: z.boolean().optional(),
  backends: z.array(backendSchema, { invalid_type_error: 'expected a list of backends' }).min(1, 'a farm needs at least one backend'),
}, { invalid_type_error: 'expected a farm: a mapping with name, vip, ports and backends' }).strict();

const hostPort = (example: string) => text(`host:port like ${example}`, (s) => hostPortError(s, example));

const sentinel = z.union([
  hostPort('10.0.0.1:26379'),
  z.object({ host: z.string().min(1), port }).strict(),
]);

export const clusterSchema = z.object({
  redis: text('a redis:// URL', redisUrlError).optional(),
  sentinels: z.array(sentinel).min(1).optional(),
  name: name(/^[A-Za-z0-9_-]{1,32}$/, 'cluster name', '1-32 letters, digits, _ or -').default('default'),
  sentinel_name: z.string().min(1).optional(),
  key_prefix: name(/^[A-Za-z0-9_:-]{1,32}$/, 'key prefix', '1-32 letters, digits, _, : or -').default('ha-agent'),
  health_policy: z.enum(['local', 'master', 'quorum']).default('local'),
  heartbeat: duration.default('1s'),
  heartbeat_ttl: duration.default('5s'),
  /** The Redis user with sentinels (with a URL, it is written in the URL). */
  username: z.string().min(1).optional(),
  /** A file holding the Redis password, read at each (re)connect: a password kept out of the config. */
  password_file: absolutePath.optional(),
  sentinel_username: z.string().min(1).optional(),
  /** The Sentinels' own password (their requirepass or ACL user), from a file. */
  sentinel_password_file: absolutePath.optional(),
  /** TLS to Redis (rediss://) and, with sentinels, to the sentinels and the master they name. */
  tls: z.object({
    ca: absolutePath.optional(),
    cert: absolutePath.optional(),
    key: absolutePath.optional(),
    /** The name the server certificate must carry (SNI too), when it is not the host connected to. */
    servername: z.string().min(1).optional(),
  }).strict().optional(),
}).strict().superRefine((cluster, ctx) => clusterSecretIssues(cluster, (path, message) =>
  ctx.addIssue({ code: z.ZodIssueCode.custom, path: path.split('.').slice(1), message })));

/** VRRPv3 carries the advertisement interval in centiseconds, 12 bits wide (RFC 5798 5.2.7). */
const advertInt = duration.superRefine((ms, ctx) => {
  const message = ms < 10 ? `${formatDuration(ms)} is below the VRRPv3 minimum of 10ms`
    : ms % 10 !== 0 ? `${formatDuration(ms)} is not a multiple of 10ms (VRRPv3 counts in centiseconds)`
    : ms > 40_950 ? `${formatDuration(ms)} is above the VRRPv3 maximum of 40.95s` : undefined;
  if (message) ctx.addIssue({ code: z.ZodIssueCode.custom, message });
});

export const vrrpSchema = z.object({
  interface: ifname,
  virtual_router_id: wholeNumber(1, 255),
  priority: wholeNumber(1, 254),
  advert_int: advertInt.default('1s'),
  unicast_src: ipv4.optional(),
  unicast_peers: z.array(ipv4, { invalid_type_error: 'expected a list of addresses like [192.168.101.2]' }).default([]),
  preempt: z.boolean().default(true),
  preempt_delay: duration.optional(),
  garp_master_delay: duration.optional(),
  garp_master_repeat: wholeNumber(1, 255).optional(),
  /** Re-send gratuitous ARPs this often while MASTER (switches that age out MAC entries). */
  garp_master_refresh: duration.optional(),
  extra_addresses: z.array(z.object({ address: cidr, interface: ifname }).strict()).default([]),
  keepalived: z.object({
    mode: z.enum(['spawn', 'systemd', 'external']).default('spawn'),
    binary: z.string().min(1).default('keepalived'),
    config_path: absolutePath.optional(),
  }).strict().default({}),
}).strict();

/** Connection-state sync with the peer (conntrackd FTFW over UDP), following VRRP state. */
export const conntrackdSchema = z.object({
  /** The (ideally dedicated) link the sync messages use. */
  interface: ifname,
  local_address: ipv4,
  peer_address: ipv4,
  port: port.default(3780),
  mode: z.enum(['spawn', 'systemd', 'external']).default('spawn'),
  binary: z.string().min(1).default('conntrackd'),
  config_path: absolutePath.optional(),
  /**
   * true: keep the peer's flows in conntrackd's external cache and commit them to the kernel on
   * becoming MASTER (primary-backup.sh). false: inject them into the kernel as they arrive.
   */
  external_cache: z.boolean().default(false),
  /** More of this node's own addresses whose connections are not synced (loopback and local_address always are not). */
  ignore_addresses: z.array(ipv4, { invalid_type_error: 'expected a list of addresses like [192.168.1.2]' }).default([]),
}).strict();

export const configSchema = z.object({
  node: z.object({
    id: name(NODE_ID, 'node id', '1-32 lowercase letters, digits or -'),
    state_dir: absolutePath.default('/var/lib/ha-agent'),
    run_dir: absolutePath.default('/run/ha-agent'),
  }).strict(),
  control: z.object({
    socket: absolutePath.default(DEFAULT_CONTROL_SOCKET),
    metrics: text('host:port like 127.0.0.1:9798', listenAddressError).optional(),
    group: z.string().min(1).optional(),
  }).strict().default({}),
  /** HA_AGENT_LOG_LEVEL, when set, overrides `level` (agent/log.ts). */
  log: z.object({
    level: z.enum(CONFIG_LOG_LEVELS).default('info'),
  }).strict().default({}),
  dataplane: z.object({
    driver: z.enum(['iptables', 'nftables']).default('iptables'),
    /** Bits of the fwmark the agent owns; other fwmark users keep the rest. */
    mark_mask: markValue.default(0x3fff),
    /** Marks are allocated in [mark_min, mark_max]. */
    mark_min: markValue.default(0x200),
    mark_max: markValue.default(0x3fff),
    cut_on_down: z.boolean().default(true),
    /** The NFLOG group farms with `log: true` send their new connections to (the agent reads it). */
    log_group: wholeNumber(1, 65535).default(5),
    /** leastconn and max_conns: how often connection counts are read from conntrack (at least:
     * a slow read at scale stretches it, so reading takes under a tenth of the time). */
    count_interval: duration.default('1s'),
    /** node-cron schedule of the drift check (six fields: seconds first). */
    verify_schedule: text('a cron schedule', cronScheduleError).default(DEFAULT_VERIFY_SCHEDULE),
  }).strict().default({}),
  farms: z.array(farmSchema, { invalid_type_error: 'expected a list of farms' }).default([]),
  vrrp: vrrpSchema.optional(),
  bgp: bgpSchema.optional(),
  conntrackd: conntrackdSchema.optional(),
  cluster: clusterSchema.optional(),
  notify: notifySchema,
}).strict();

export type Config = z.output<typeof configSchema>;
export type FarmConfig = z.output<typeof farmSchema>;
export type BackendConfig = z.output<typeof backendSchema>;
export type FarmLimits = z.output<typeof limitsSchema>;
export type CheckConfig = z.output<typeof checkSchema>;
export type VrrpConfig = z.output<typeof vrrpSchema>;
export type ClusterConfig = z.output<typeof clusterSchema>;
export type ConntrackdConfig = z.output<typeof conntrackdSchema>;
