// What the iptables and nftables renderers (and the drivers that re-render farm by farm) share,
// so both write the same labels and numbers. Pure.

import type { PlannedBackend, PlannedFarm } from '../plan/plan.js';

/** The seed's FARM_<farm>_<n>_ comment on a backend's rules. */
export const backendLabel = (farm: PlannedFarm, b: PlannedBackend): string => `FARM_${farm.name}_${b.index}_`;

/** Persistence timeout in whole seconds, at least 1: both `recent --seconds` and nft set timeouts
 * take seconds. */
export const persistenceSeconds = (farm: PlannedFarm): number => Math.max(1, Math.ceil((farm.persistenceTtlMs ?? 0) / 1000));

/** The source address SNAT rewrites to, or undefined for masquerade (the outgoing interface's). */
export const snatAddress = (farm: PlannedFarm): string | undefined =>
  farm.snatSource === 'masquerade' ? undefined : farm.snatSource === 'vip' ? farm.vip : farm.snatSource;

/**
 * The farms to re-render: those named in `changed`, plus farms added or removed, which count as
 * changed even when `changed` does not name them. In that order, so output stays deterministic.
 */
export function touchedFarms(changed: ReadonlySet<string>, before: Iterable<string>, after: Iterable<string>): Set<string> {
  const had = new Set(before);
  const has = new Set(after);
  const touched = new Set(changed);
  for (const name of had) if (!has.has(name)) touched.add(name);
  for (const name of has) if (!had.has(name)) touched.add(name);
  return touched;
}

/** Connection log lines a farm sends at most per second (and at once): a flood of new
 * connections must not become a flood of log lines. */
export const LOG_RATE = 1000;
export const LOG_BURST = 1000;
export const DEFAULT_LOG_GROUP = 5;

/** The NFLOG prefix of a farm's connection log; the agent's reader takes the farm from it. */
export const logPrefix = (farm: PlannedFarm): string => `ha-agent:${farm.name}`;
