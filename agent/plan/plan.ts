// Config + what is known of each backend -> the desired state of every farm: which backends are
// in the MARK chain, their marks and their share of new connections. Pure.

import type { AdminState, Config, FarmConfig } from '../../config/schema.js';
import { ipFamily, type IpFamily, type PortRange } from '../../config/net.js';
import { fnv1a, markKey } from './marks.js';
import { bucketOwners, slotCounts, smoothSequence } from './shares.js';
import { farmBuckets } from './maglev.js';

export type Health = 'up' | 'down' | 'unknown';

export interface BackendView {
  readonly health: Health;
  readonly admin: AdminState;
  /** Slow start: a recovering backend's weight is scaled by this (0, 1]. */
  readonly weightFactor?: number;
  /** leastconn: the backend's weight is scaled by this (0, 1], lower the more connections it holds. */
  readonly loadFactor?: number;
  /** max_conns reached: out of the chain (as if drained) until it holds fewer connections. */
  readonly full?: boolean;
}

/** What is known of a backend; fields left out (or no view at all) keep the defaults: health
 * unknown, admin as configured. */
export type ViewLookup = (farm: string, backend: string) => Partial<BackendView> | undefined;

export interface PlannedBackend {
  readonly name: string;
  /** Position in the farm's config: the n of the seed's FARM_<farm>_<n>_ comment. */
  readonly index: number;
  readonly ip: string;
  readonly port: number | undefined;
  readonly weight: number;
  readonly effectiveWeight: number;
  readonly priority: number;
  readonly mark: number;
  readonly health: Health;
  readonly admin: AdminState;
  readonly inChain: boolean;
  readonly share: number;
  /** 0: no limit. */
  readonly maxConns: number;
  readonly full: boolean;
}

/** A farm's admission limits as the renderers need them. */
export interface PlannedLimits {
  readonly newPerSecond: number | undefined;
  readonly burst: number | undefined;
  readonly established: number | undefined;
  readonly action: 'drop' | 'reject';
}

export interface PlannedFarm {
  readonly name: string;
  readonly vip: string;
  /** The VIP's, and so every backend's: which tables (iptables or ip6tables, ip or ip6) hold the farm. */
  readonly family: IpFamily;
  /** Empty for protocol `all`, which takes every port. */
  readonly ports: readonly PortRange[];
  readonly protocol: FarmConfig['protocol'];
  /** The conntrack helper attached to the farm's new connections. */
  readonly helper: FarmConfig['helper'];
  readonly mode: FarmConfig['mode'];
  readonly snatSource: string;
  readonly algorithm: FarmConfig['algorithm'];
  readonly persistenceTtlMs: number | undefined;
  readonly limits: PlannedLimits | undefined;
  /** Each new connection and its backend sent to the NFLOG group (DesiredState.logGroup). */
  readonly log: boolean;
  /** Same on every node, so hash-srcip sends a client to the same backend after failover. */
  readonly hashSeed: number;
  readonly backends: readonly PlannedBackend[];
  /** The backends in the MARK chain, in config order. */
  readonly chain: readonly PlannedBackend[];
  /** hash-srcip: owner (index into chain) of each hash bucket. */
  readonly buckets: readonly number[];
  /** roundrobin: owner (index into chain) of each slot of the cycle, in smooth weighted order;
   * planned once here so both renderers read the same order. */
  readonly sequence: readonly number[];
}

export interface DesiredState {
  readonly markMask: number;
  /** The NFLOG group of farms with `log` (default 5). */
  readonly logGroup?: number;
  readonly farms: readonly PlannedFarm[];
}

const DEFAULT_VIEW: BackendView = { health: 'unknown', admin: 'enabled' };

/**
 * Unknown health counts as usable (as HAProxy assumes servers up at start); a backend known
 * down before a restart is passed in as down until it passes `rise` checks.
 */
const usable = (view: BackendView): boolean => view.admin === 'enabled' && view.health !== 'down' && view.full !== true;

const factor = (f: number | undefined): number => Math.min(1, Math.max(0.001, f ?? 1));

export function planFarm(farm: FarmConfig, marks: ReadonlyMap<string, number>, lookup: ViewLookup): PlannedFarm {
  const views = farm.backends.map((b) => ({ ...DEFAULT_VIEW, admin: b.admin, ...lookup(farm.name, b.name) }));
  const candidates = farm.backends.map((_, i) => i).filter((i) => usable(views[i]!));
  // Only the lowest priority number that still has a usable backend receives traffic (full
  // backends count as unusable, so backups take the overflow; all full is all down: refused).
  const bestPriority = Math.min(...candidates.map((i) => farm.backends[i]!.priority));
  const chainIndexes = candidates.filter((i) => farm.backends[i]!.priority === bestPriority);
  const inChain = new Set(chainIndexes);
  const effective = farm.backends.map((b, i) => b.weight * factor(views[i]!.weightFactor) * factor(views[i]!.loadFactor));

  const shares = new Array<number>(farm.backends.length).fill(0);
  const chainWeights = chainIndexes.map((i) => effective[i]!);
  let buckets: number[] = [];
  let sequence: number[] = [];
  switch (farm.algorithm) {
    // leastconn is weight with weights the connection counts scale (agent/leastconn).
    case 'weight':
    case 'leastconn': {
      const total = chainWeights.reduce((a, b) => a + b, 0);
      chainIndexes.forEach((i) => (shares[i] = effective[i]! / total));
      break;
    }
    case 'roundrobin': {
      const slots = slotCounts(chainWeights);
      const total = slots.reduce((a, b) => a + b, 0);
      chainIndexes.forEach((i, k) => (shares[i] = slots[k]! / total));
      sequence = smoothSequence(slots);
      break;
    }
    case 'hash-srcip': {
      buckets = bucketOwners(farm.backends.map((b) => b.weight), chainIndexes, chainWeights);
      buckets.forEach((owner) => (shares[chainIndexes[owner]!]! += 1 / buckets.length));
      break;
    }
    // hash-5tuple: Maglev's table over config weights only (not slow-start or load factors, which
    // differ between LBs), so every LB with the same health view places a flow alike.
    case 'hash-5tuple': {
      buckets = farmBuckets(farm.backends, chainIndexes, `ha-agent/${farm.name}`);
      buckets.forEach((owner) => (shares[chainIndexes[owner]!]! += 1 / buckets.length));
      break;
    }
    default: {
      const never: never = farm.algorithm;
      throw new Error(`unknown algorithm ${String(never)}`);
    }
  }

  const backends = farm.backends.map((b, i): PlannedBackend => {
    const mark = marks.get(markKey(farm.name, b.name));
    if (mark === undefined) throw new Error(`no mark assigned to ${markKey(farm.name, b.name)}`);
    return {
      name: b.name, index: i, ip: b.ip, port: b.port, weight: b.weight, effectiveWeight: effective[i]!,
      priority: b.priority, mark, health: views[i]!.health, admin: views[i]!.admin,
      inChain: inChain.has(i), share: shares[i]!, maxConns: b.max_conns, full: views[i]!.full === true,
    };
  });
  return {
    name: farm.name, vip: farm.vip, family: ipFamily(farm.vip), ports: farm.ports, protocol: farm.protocol, helper: farm.helper, mode: farm.mode,
    snatSource: farm.snat_source, algorithm: farm.algorithm,
    persistenceTtlMs: farm.persistence?.ttl, log: farm.log,
    limits: farm.limits && {
      newPerSecond: farm.limits.new_per_second,
      burst: farm.limits.new_per_second === undefined ? undefined : farm.limits.burst ?? farm.limits.new_per_second,
      established: farm.limits.established, action: farm.limits.action,
    },
    hashSeed: fnv1a(`ha-agent/${farm.name}`),
    backends, chain: chainIndexes.map((i) => backends[i]!), buckets, sequence,
  };
}

/** What a plan holds for display only: agentctl status and the API show it, no renderer reads it
 * (a backend's health reaches the rules through `inChain`). */
const NOT_RENDERED = 'health';

/**
 * Whether two plans of a farm give the same rules: equal but for what is never rendered. A backend
 * found up at start (unknown -> up) changes no rule, so its farm needs no render nor transaction.
 */
export function sameRules(a: PlannedFarm, b: PlannedFarm): boolean {
  return sameValue(a, b);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  // Walked key by key, not through copies without the field: compared for every farm an event touches.
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let keys = 0;
  for (const key in x) {
    keys++;
    if (key === NOT_RENDERED) continue;
    if (!Object.hasOwn(y, key) || !sameValue(x[key], y[key])) return false;
  }
  for (const key in y) keys--;
  return keys === 0;
}

export function plan(config: Pick<Config, 'farms' | 'dataplane'>, marks: ReadonlyMap<string, number>, lookup: ViewLookup): DesiredState {
  return { markMask: config.dataplane.mark_mask, logGroup: config.dataplane.log_group, farms: config.farms.map((farm) => planFarm(farm, marks, lookup)) };
}

/** The farms of one family: each family's rules are applied by its own tool in its own transaction;
 * marks stay one space across both, assigned over every farm. */
export function ofFamily(desired: DesiredState, family: IpFamily): DesiredState {
  return { ...desired, farms: desired.farms.filter((farm) => farm.family === family) };
}
