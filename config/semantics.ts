// Rules across fields that a per-field schema cannot express. Pure: parsed config in, issues out.

import type { ClusterConfig, Config, ConntrackdConfig, FarmConfig, VrrpConfig } from './schema.js';
import { formatEndpoint, formatPortRange, ipFamily, isIPv4, isIPv6, portsInBoth } from './net.js';
import { driverIssues } from './drivers.js';
import { formatDuration } from './duration.js';
import { bgpIssues, type BgpConfig } from './bgp.js';
import { directReturnVrrpIssues, forwardingIssues } from './forwarding.js';

export type { ConfigIssue } from './issue.js';
import type { ConfigIssue } from './issue.js';

/**
 * The parts of a config the rules look at. When the schema rejects some parts, the rest are
 * still checked (a missing entry in `farms` is a farm the schema rejected), so that one run
 * reports every error.
 */
export interface ConfigParts {
  readonly farms: readonly (FarmConfig | undefined)[];
  readonly dataplane?: Config['dataplane'];
  /** null: the section is there but the schema rejected it. */
  readonly vrrp?: VrrpConfig | null;
  /** null: the section is there but the schema rejected it. */
  readonly bgp?: BgpConfig | null;
  readonly conntrackd?: ConntrackdConfig;
  readonly cluster?: ClusterConfig;
  readonly node?: Config['node'];
}

type Add = (path: string, message: string) => void;

export function semanticIssues(config: ConfigParts): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add: Add = (path, message) => issues.push({ path, message });
  farmIssues(config.farms, add);
  if (config.dataplane) markIssues(config.dataplane, config.farms, add);
  if (config.dataplane) driverIssues(config.dataplane.driver, config.farms, add);
  if (config.vrrp) vrrpIssues(config.vrrp, add);
  if (config.vrrp) vipIssues(config.vrrp, config.farms, add);
  if (config.vrrp) directReturnVrrpIssues(config.farms, add);
  // keepalived splits its track script's command line on blanks and has no quoting for it.
  if (config.vrrp && config.node && /[\s"'\\]/.test(config.node.run_dir)) {
    add('node.run_dir', 'with vrrp, run_dir must not contain blanks, quotes or backslashes (keepalived reads paths in it as script arguments)');
  }
  if (config.conntrackd) conntrackdIssues(config.conntrackd, config, add);
  if (config.cluster) clusterIssues(config.cluster, add);
  bgpIssues(config, add);
  return issues;
}

function farmIssues(farms: ConfigParts['farms'], add: Add): void {
  const farmNames = new Map<string, number>();
  // Traffic a backend at a VIP receives enters the VIP's chain again: a DNAT loop.
  const vipOwners = new Map<string, number>();
  farms.forEach((farm, f) => { if (farm && !vipOwners.has(farm.vip)) vipOwners.set(farm.vip, f); });
  farms.forEach((farm, f) => {
    if (!farm) return;
    const at = `farms[${f}]`;
    const first = farmNames.get(farm.name);
    if (first !== undefined) add(`${at}.name`, `duplicate farm name "${farm.name}" (also farms[${first}])`);
    else farmNames.set(farm.name, f);

    if (farm.check.timeout >= farm.check.interval) {
      add(`${at}.check.timeout`, `timeout ${formatDuration(farm.check.timeout)} must be shorter than interval ${formatDuration(farm.check.interval)}`);
    }
    for (const key of ['fastinter', 'downinter'] as const) {
      const ms = farm.check[key];
      if (ms !== undefined && ms <= farm.check.timeout) {
        add(`${at}.check.${key}`, `${key} ${formatDuration(ms)} must be longer than timeout ${formatDuration(farm.check.timeout)}`);
      }
    }
    if (farm.algorithm === 'hash-srcip' && farm.persistence) {
      add(`${at}.persistence`, 'hash-srcip already keeps a client on one backend; remove persistence');
    }
    protocolIssues(farm, at, add);
    limitIssues(farm, at, add);
    forwardingIssues(farm, at, add);

    const backendNames = new Map<string, number>();
    const endpoints = new Map<string, number>();
    farm.backends.forEach((backend, b) => {
      const bat = `${at}.backends[${b}]`;
      const sameName = backendNames.get(backend.name);
      if (sameName !== undefined) add(`${bat}.name`, `duplicate backend name "${backend.name}" (also backends[${sameName}])`);
      else backendNames.set(backend.name, b);
      const endpoint = formatEndpoint(backend.ip, backend.port ?? '*');
      const sameEndpoint = endpoints.get(endpoint);
      if (sameEndpoint !== undefined) add(`${bat}.port`, `duplicate backend ${endpoint} (also backends[${sameEndpoint}])`);
      else endpoints.set(endpoint, b);
      if (ipFamily(backend.ip) !== ipFamily(farm.vip)) {
        add(`${bat}.ip`, `${backend.ip} is ${familyName(backend.ip)} but the VIP ${farm.vip} is ${familyName(farm.vip)}; a farm's backends are of its VIP's family`);
      }
      if (farm.protocol === 'all' && backend.port !== undefined) {
        add(`${bat}.port`, 'protocol all forwards every port as it came; remove the backend port');
      }
      const owner = vipOwners.get(backend.ip);
      if (owner !== undefined) {
        add(`${bat}.ip`, `${backend.ip} is the VIP of farm "${farms[owner]!.name}" (farms[${owner}]); a backend there would be balanced again (a DNAT loop)`);
      }
      if (backend.port === undefined && farm.check.type !== 'none' && farm.check.type !== 'exec' && farm.check.port === undefined && backend.check_port === undefined) {
        add(`${bat}.port`, 'a backend without a port needs check.port (or its own check_port) to know what to probe');
      }
    });
  });

  // Two farms cannot both own a VIP:port, or packets would be marked twice.
  farms.forEach((farm, f) => {
    for (let g = 0; g < f && farm; g++) {
      const other = farms[g];
      if (!other || other.vip !== farm.vip) continue;
      if (farm.protocol === 'all' || other.protocol === 'all') {
        add(`farms[${f}].vip`, `${farm.vip} is already served by farm "${other.name}" (farms[${g}]); a protocol all farm takes every protocol and port of its VIP, so it shares the VIP with no other farm`);
        continue;
      }
      if (other.protocol !== farm.protocol) continue;
      const shared = portsInBoth(other.ports, farm.ports);
      if (shared.length === 0) continue;
      const ports = shared.map((r) => formatPortRange(r, '-')).join(',');
      const one = shared.length === 1 && shared[0]!.from === shared[0]!.to;
      add(`farms[${f}].ports`, `${farm.protocol} ${farm.vip} ${one ? `port ${ports} is` : `ports ${ports} are`} already served by farm "${other.name}" (farms[${g}])`);
    }
  });
}

const familyName = (ip: string): string => (ipFamily(ip) === 'ipv6' ? 'IPv6' : 'IPv4');

/** Which protocols each helper reads (the kernel registers ftp for TCP, tftp for UDP, sip for both). */
const HELPER_PROTOCOLS = { ftp: ['tcp'], tftp: ['udp'], sip: ['udp', 'tcp'] } as const;

function protocolIssues(farm: FarmConfig, at: string, add: Add): void {
  if (farm.protocol === 'all' && farm.ports.length > 0) add(`${at}.ports`, 'protocol all takes every port of the VIP; remove ports');
  if (farm.protocol !== 'all' && farm.ports.length === 0) add(`${at}.ports`, 'a farm needs at least one port');
  if (farm.helper !== undefined) {
    const takes: readonly string[] = HELPER_PROTOCOLS[farm.helper];
    if (!takes.includes(farm.protocol)) add(`${at}.helper`, `the ${farm.helper} helper reads ${takes.join(' or ')} control connections; set protocol: ${takes[0]}`);
  }
  const source = farm.snat_source;
  if (farm.mode === 'snat' && (isIPv4(source) || isIPv6(source)) && ipFamily(source) !== ipFamily(farm.vip)) {
    add(`${at}.snat_source`, `${source} is ${familyName(source)} but the VIP ${farm.vip} is ${familyName(farm.vip)}; SNAT rewrites to an address of the VIP's family`);
  }
}

function limitIssues(farm: FarmConfig, at: string, add: Add): void {
  const limits = farm.limits;
  if (limits) {
    if (limits.new_per_second === undefined && limits.established === undefined) {
      add(`${at}.limits`, 'limits need new_per_second or established (or both)');
    }
    if (limits.burst !== undefined && limits.new_per_second === undefined) {
      add(`${at}.limits.burst`, 'burst is the allowance above new_per_second; set new_per_second too');
    }
  }
  // A backend cap above the farm's cap never binds: say so rather than let it read as a promise.
  farm.backends.forEach((backend, b) => {
    if (limits?.established !== undefined && backend.max_conns > limits.established) {
      add(`${at}.backends[${b}].max_conns`, `max_conns ${backend.max_conns} is above the farm's limits.established ${limits.established}, so it never applies`);
    }
  });
}

function markIssues(dataplane: Config['dataplane'], farms: ConfigParts['farms'], add: Add): void {
  const { mark_mask: mask, mark_min: min, mark_max: max } = dataplane;
  if (min > max) add('dataplane.mark_min', `mark_min 0x${min.toString(16)} is above mark_max 0x${max.toString(16)}`);
  if ((max & ~mask) >>> 0 !== 0 || (min & ~mask) >>> 0 !== 0) {
    add('dataplane.mark_mask', `mask 0x${mask.toString(16)} does not cover the mark range 0x${min.toString(16)}-0x${max.toString(16)}`);
  }
  const backends = farms.reduce((n, farm) => n + (farm?.backends.length ?? 0), 0);
  if (min <= max && backends > max - min + 1) add('dataplane.mark_max', `${backends} backends need ${backends} marks; mark_min..mark_max holds ${max - min + 1}`);
  const pinned = new Map<number, string>();
  farms.forEach((farm, f) => farm?.backends.forEach((backend, b) => {
    if (backend.mark === undefined) return;
    const at = `farms[${f}].backends[${b}].mark`;
    const hex = `0x${backend.mark.toString(16)}`;
    if (backend.mark < min || backend.mark > max) add(at, `mark ${hex} is outside dataplane.mark_min..mark_max`);
    const owner = pinned.get(backend.mark);
    if (owner) add(at, `mark ${hex} is already pinned by ${owner}`);
    else pinned.set(backend.mark, `${farm.name}/${backend.name}`);
  }));
}

function vrrpIssues(vrrp: VrrpConfig, add: Add): void {
  vrrp.unicast_peers.forEach((peer, i) => {
    if (peer === vrrp.unicast_src) add(`vrrp.unicast_peers[${i}]`, `${peer} is this node's own unicast_src; list only the other nodes`);
    if (vrrp.unicast_peers.indexOf(peer) !== i) add(`vrrp.unicast_peers[${i}]`, `duplicate peer ${peer}`);
  });
  if (vrrp.unicast_peers.length > 0 && !vrrp.unicast_src) add('vrrp.unicast_src', 'unicast_peers need a unicast_src');
  // keepalived ignores preempt_delay under nopreempt (and `keepalived -t` fails on it) and caps it at 1000 s.
  if (vrrp.preempt_delay !== undefined && !vrrp.preempt) add('vrrp.preempt_delay', 'preempt_delay has no effect with preempt: false; remove one of them');
  if (vrrp.preempt_delay !== undefined && vrrp.preempt_delay > 1_000_000) add('vrrp.preempt_delay', `${formatDuration(vrrp.preempt_delay)} is above keepalived's maximum of 1000s`);
  // keepalived reads the gratuitous ARP timers as whole seconds.
  for (const key of ['garp_master_delay', 'garp_master_refresh'] as const) {
    const ms = vrrp[key];
    if (ms !== undefined && ms % 1000 !== 0) add(`vrrp.${key}`, `${formatDuration(ms)} is not a whole number of seconds (keepalived counts ${key} in seconds)`);
  }
}

/** The addresses keepalived moves: each exactly once, and never this node's own VRRP source. */
function vipIssues(vrrp: VrrpConfig, farms: ConfigParts['farms'], add: Add): void {
  const vips = new Set(farms.flatMap((farm) => (farm ? [farm.vip] : [])));
  const seen = new Map<string, number>();
  vrrp.extra_addresses.forEach((extra, i) => {
    const ip = extra.address.split('/')[0]!;
    if (vips.has(ip)) add(`vrrp.extra_addresses[${i}].address`, `${ip} is already a farm VIP; farm VIPs move with VRRP without being listed`);
    const first = seen.get(ip);
    if (first !== undefined) add(`vrrp.extra_addresses[${i}].address`, `duplicate address ${ip} (also extra_addresses[${first}])`);
    else seen.set(ip, i);
  });
  // keepalived keeps one address family per instance, so IPv6 VIPs move in an instance of their
  // own whose adverts are IPv6 too: it cannot send them to the IPv4 unicast peers.
  const v6 = farms.findIndex((farm) => farm !== undefined && ipFamily(farm.vip) === 'ipv6');
  if (v6 >= 0 && vrrp.unicast_peers.length > 0) {
    add('vrrp.unicast_peers', `farms[${v6}].vip ${farms[v6]!.vip} is IPv6: keepalived moves IPv6 VIPs in an IPv6 instance, which advertises by IPv6 multicast and cannot use the IPv4 unicast peers; remove unicast_peers and unicast_src or serve the farm on an IPv4 VIP`);
  }
  if (vrrp.unicast_src && (vips.has(vrrp.unicast_src) || seen.has(vrrp.unicast_src))) {
    add('vrrp.unicast_src', `${vrrp.unicast_src} moves with VRRP; use an address of this node that never moves`);
  }
}

function conntrackdIssues(conntrackd: ConntrackdConfig, config: ConfigParts, add: Add): void {
  if (config.vrrp === undefined) add('conntrackd', 'connection sync follows VRRP state; it needs a vrrp section');
  if (conntrackd.peer_address === conntrackd.local_address) add('conntrackd.peer_address', `${conntrackd.peer_address} is this node's own local_address; give the peer's`);
}

function clusterIssues(cluster: ClusterConfig, add: Add): void {
  if (!cluster.redis && !cluster.sentinels) add('cluster.redis', 'give a redis URL or sentinels');
  if (cluster.redis && cluster.sentinels) add('cluster.sentinels', 'give either redis or sentinels, not both');
  if (cluster.sentinels && !cluster.sentinel_name) add('cluster.sentinel_name', 'sentinels need the monitored master name');
  if (cluster.heartbeat_ttl <= cluster.heartbeat) add('cluster.heartbeat_ttl', 'must be longer than cluster.heartbeat');
}
