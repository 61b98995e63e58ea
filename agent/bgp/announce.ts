// Which VIPs this LB announces: each farm VIP while one of its farms has a usable backend, none
// while the node is drained. Pure, from the desired state the data path is built from, so an
// LB never attracts traffic for a farm it would refuse.

import type { DesiredState } from '../plan/plan.js';

export function announcedVips(desired: Pick<DesiredState, 'farms'>, drained: boolean): string[] {
  if (drained) return [];
  const vips = new Set<string>();
  for (const farm of desired.farms) if (farm.chain.length > 0) vips.add(farm.vip);
  return [...vips].sort();
}
