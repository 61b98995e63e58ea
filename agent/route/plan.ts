// The routing half of dsr and tunnel: the MARK chain gives a packet its backend's mark, and the
// kernel routes it by that mark (`ip rule fwmark` -> one table per backend) to the backend
// unchanged (dsr: the backend as next hop on the L2 network) or encapsulated (tunnel: IPIP or
// ip6ip6 to the backend). DesiredState -> the rules, tables and tunnel devices wanted. Pure.
//
// What the agent owns, so it can adopt and clean up without a record of its own:
// - rules at preference ROUTE_RULE_PREF (one preference for all: marks are distinct under the
//   mask, so their order does not matter) that look up a table of the range below;
// - tables ROUTE_TABLE_BASE + mark (marks are stable, so are the tables): 0x48410000-0x4841ffff,
//   "HA" in the high half, far from the tables people number by hand and from 253-255;
// - the tunnel devices ha-ipip and ha-ip6tnl.

import type { IpFamily } from '../../config/net.js';
import { formatMark } from '../plan/marks.js';
import type { DesiredState, PlannedFarm } from '../plan/plan.js';

/** Before the main table's rule (32766); the local table (0) still comes first, see README. */
export const ROUTE_RULE_PREF = 3100;
export const ROUTE_TABLE_BASE = 0x48410000;
/** Marks of dsr/tunnel backends stay below this, so their tables stay in the agent's range. */
export const ROUTE_MARK_LIMIT = 0x10000;

/**
 * One collect_md ("external") tunnel device per family, with the destination on each route
 * (`encap ip dst BACKEND`), rather than a device per backend: adding or removing a backend is a
 * route change only, no netdev is created per backend (each is a sysfs entry, a notifier storm
 * and one more thing to adopt), and the device count does not grow with the farms.
 */
export const TUNNEL_DEVICE: Readonly<Record<IpFamily, string>> = { ipv4: 'ha-ipip', ipv6: 'ha-ip6tnl' };
export const TUNNEL_TYPE: Readonly<Record<IpFamily, string>> = { ipv4: 'ipip external', ipv6: 'ip6tnl mode ip6ip6 external' };

export const isDirect = (farm: Pick<PlannedFarm, 'mode'>): boolean => farm.mode === 'dsr' || farm.mode === 'tunnel';

export const tableOf = (mark: number): number => {
  if (mark < 0 || mark >= ROUTE_MARK_LIMIT) throw new Error(`mark ${formatMark(mark)} is above ${formatMark(ROUTE_MARK_LIMIT - 1)}: dsr and tunnel backends route through table ${formatMark(ROUTE_TABLE_BASE)} + mark; set dataplane.mark_max (or the backend's mark) below ${formatMark(ROUTE_MARK_LIMIT)}`);
  return ROUTE_TABLE_BASE + mark;
};

export const isOwnedTable = (table: number): boolean => table >= ROUTE_TABLE_BASE && table < ROUTE_TABLE_BASE + ROUTE_MARK_LIMIT;

export interface MarkRule {
  readonly mark: number;
  readonly mask: number;
  readonly table: number;
}

/** The one route of a backend's table: to the backend as next hop, or encapsulated to it. */
export interface BackendRoute {
  readonly table: number;
  readonly via: 'gateway' | 'tunnel';
  readonly address: string;
}

export interface FamilyRoutes {
  /** By ruleText. */
  readonly rules: ReadonlyMap<string, MarkRule>;
  /** By table. */
  readonly routes: ReadonlyMap<number, BackendRoute>;
  readonly tunnel: boolean;
}

export type RouteState = Readonly<Record<IpFamily, FamilyRoutes>>;

export const FAMILIES: readonly IpFamily[] = ['ipv4', 'ipv6'];

export const emptyFamily = (): FamilyRoutes => ({ rules: new Map(), routes: new Map(), tunnel: false });
export const emptyRoutes = (): RouteState => ({ ipv4: emptyFamily(), ipv6: emptyFamily() });

export const ruleText = (r: MarkRule): string => `pref ${ROUTE_RULE_PREF} fwmark ${formatMark(r.mark)}/${formatMark(r.mask)} lookup ${r.table}`;

export function routeText(route: BackendRoute, family: IpFamily): string {
  if (route.via === 'gateway') return `default via ${route.address} table ${route.table}`;
  return `default encap ${family === 'ipv6' ? 'ip6' : 'ip'} dst ${route.address} dev ${TUNNEL_DEVICE[family]} table ${route.table}`;
}

export const sameRoute = (a: BackendRoute, b: BackendRoute): boolean => a.via === b.via && a.address === b.address && a.table === b.table;

/**
 * Every configured backend of a dsr or tunnel farm gets its rule and table, in the chain or not:
 * a packet marked just before a rewrite must still find its route (as DNAT keeps a rule for every
 * backend), and a backend coming back needs no routing change.
 */
export function planRoutes(desired: DesiredState): RouteState {
  const out = { ipv4: { rules: new Map<string, MarkRule>(), routes: new Map<number, BackendRoute>(), tunnel: false }, ipv6: { rules: new Map<string, MarkRule>(), routes: new Map<number, BackendRoute>(), tunnel: false } };
  for (const farm of desired.farms) {
    if (!isDirect(farm)) continue;
    const family = out[farm.family];
    if (farm.mode === 'tunnel') family.tunnel = true;
    for (const b of farm.backends) {
      const table = tableOf(b.mark);
      const rule: MarkRule = { mark: b.mark, mask: desired.markMask >>> 0, table };
      family.rules.set(ruleText(rule), rule);
      family.routes.set(table, { table, via: farm.mode === 'tunnel' ? 'tunnel' : 'gateway', address: b.ip });
    }
  }
  return out;
}

export const isEmptyFamily = (f: FamilyRoutes): boolean => f.rules.size === 0 && f.routes.size === 0 && !f.tunnel;
