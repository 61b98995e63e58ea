// What the kernel counted against the farms' limits and the backends' max_conns, as data: the
// limits are enforced in the kernel (nftables named counters, iptables rule counters), so their
// counts are read from there, not kept by the agent. Parsing and naming are pure, so both drivers'
// outputs are tested as text; agent/apply/kernel-counters.ts runs the one command per family.

import type { IpFamily } from '../../config/net.js';
import type { Driver } from './netfilter.js';
import type { DesiredState, PlannedBackend, PlannedFarm } from '../plan/plan.js';
import { backendLabel } from '../render/common.js';
import { NFT_NAMES, NFT_TABLE } from '../render/nft-model.js';
import { CHAINS } from '../render/ruleset.js';

/** A farm limit, named as its config key. */
export type FarmLimit = 'new_per_second' | 'established';

export interface FarmLimitCount {
  readonly farm: string;
  readonly limit: FarmLimit;
  readonly action: 'drop' | 'reject';
  /** New-connection packets the limit refused since its rule was written. */
  readonly refused: number;
}

export interface BackendFullCount {
  readonly farm: string;
  readonly backend: string;
  readonly refused: number;
}

export interface LimitCounts {
  readonly farms: readonly FarmLimitCount[];
  readonly backends: readonly BackendFullCount[];
}

export const NO_COUNTS: LimitCounts = { farms: [], backends: [] };

/** Packets per counter, keyed as counterKey spells them; one map for every family read. */
export type KernelCounters = ReadonlyMap<string, number>;

/** The nft table family of a farm's family. */
export const nftFamily = (family: IpFamily): 'ip' | 'ip6' => (family === 'ipv6' ? 'ip6' : 'ip');

type Counted = { readonly limit: 'rate' | 'established' } | { readonly backend: PlannedBackend };

/** Where one limit's count lives: the named counter (nftables) or the rule of the farm's limit chain with that comment (iptables). */
export function counterKey(driver: Driver, farm: PlannedFarm, what: Counted): string {
  switch (driver) {
    case 'nftables': {
      const name = 'backend' in what ? NFT_NAMES.overBackend(farm.name, what.backend.mark)
        : what.limit === 'rate' ? NFT_NAMES.overRate(farm.name) : NFT_NAMES.overEstablished(farm.name);
      return `${nftFamily(farm.family)} ${name}`;
    }
    case 'iptables': {
      const comment = 'backend' in what ? backendLabel(farm, what.backend) : `FARM_${farm.name}_${what.limit}`;
      return `${farm.family} ${CHAINS.farmLimit(farm.name)} ${comment}`;
    }
    default: {
      const never: never = driver;
      throw new Error(`unknown driver ${String(never)}`);
    }
  }
}

/** Whether a farm has any counted limit (the renderers give it a limit chain then). */
export const hasCountedLimits = (farm: PlannedFarm): boolean => farm.limits !== undefined || farm.backends.some((b) => b.maxConns > 0);

/** The families whose counters a read needs: those of farms with limits (none: nothing to run). */
export function familiesToRead(desired: DesiredState): IpFamily[] {
  const families = new Set(desired.farms.filter(hasCountedLimits).map((f) => f.family));
  return (['ipv4', 'ipv6'] as const).filter((f) => families.has(f));
}

/**
 * The counts of the planned limits found in `counters`. A limit whose counter the kernel does not
 * hold (its apply failed or is pending) has no series rather than a made-up zero.
 */
export function limitCounts(driver: Driver, desired: DesiredState, counters: KernelCounters): LimitCounts {
  const farms: FarmLimitCount[] = [];
  const backends: BackendFullCount[] = [];
  for (const farm of desired.farms) {
    const limits = farm.limits;
    if (limits) {
      const action = limits.action;
      const add = (limit: FarmLimit, counted: 'rate' | 'established') => {
        const refused = counters.get(counterKey(driver, farm, { limit: counted }));
        if (refused !== undefined) farms.push({ farm: farm.name, limit, action, refused });
      };
      if (limits.newPerSecond !== undefined) add('new_per_second', 'rate');
      if (limits.established !== undefined) add('established', 'established');
    }
    for (const backend of farm.backends) {
      if (backend.maxConns === 0) continue;
      const refused = counters.get(counterKey(driver, farm, { backend }));
      if (refused !== undefined) backends.push({ farm: farm.name, backend: backend.name, refused });
    }
  }
  return { farms, backends };
}

/** `nft -j list counters table <family> ha_agent` output: packets of each of the agent's named counters. */
export function parseNftCounters(json: string): Map<string, number> {
  const out = new Map<string, number>();
  const doc = JSON.parse(json) as { nftables?: unknown };
  if (!Array.isArray(doc.nftables)) throw new Error('nft -j output without an "nftables" array');
  for (const item of doc.nftables as unknown[]) {
    const counter = (item as { counter?: Record<string, unknown> } | null)?.counter;
    if (!counter || counter.table !== NFT_TABLE) continue;
    const { family, name, packets } = counter;
    if (typeof family !== 'string' || typeof name !== 'string' || typeof packets !== 'number') continue;
    out.set(`${family} ${name}`, packets);
  }
  return out;
}

/**
 * `iptables-save -c -t filter` output: packets of each rule of the agent's limit chains that has
 * a comment. Rules of a chain share no comment (one per limit, one per backend), so chain and
 * comment name a rule.
 */
export function parseIptablesCounters(text: string, family: IpFamily): Map<string, number> {
  const out = new Map<string, number>();
  const limitChain = CHAINS.farmLimit('');
  for (const line of text.split('\n')) {
    const m = /^\[(\d+):\d+\] -A (\S+) (.*)$/.exec(line.trim());
    if (!m || !m[2]!.startsWith(limitChain)) continue;
    const comment = /--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(m[3]!);
    if (!comment) continue;
    out.set(`${family} ${m[2]} ${comment[1] ?? comment[2]}`, Number(m[1]));
  }
  return out;
}
