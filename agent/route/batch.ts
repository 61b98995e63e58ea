// Applied routing state -> desired: the `ip -batch` lines, split in two halves run around the
// netfilter transaction. `grow` (before it) adds tunnel devices, tables and rules, so a packet the
// new rules mark finds its route; `shrink` (after it) removes what no mark leads to any more.
// ip -batch is not one transaction: a failed line leaves the lines before it applied, which the
// caller recovers from by reading the kernel back. Pure.

import type { IpFamily } from '../../config/net.js';
import {
  TUNNEL_DEVICE, TUNNEL_TYPE, emptyFamily, routeText, ruleText, sameRoute, type FamilyRoutes,
} from './plan.js';

export function growLines(applied: FamilyRoutes, desired: FamilyRoutes, family: IpFamily): string[] {
  const lines: string[] = [];
  if (desired.tunnel && !applied.tunnel) {
    lines.push(`link add ${TUNNEL_DEVICE[family]} type ${TUNNEL_TYPE[family]}`, `link set ${TUNNEL_DEVICE[family]} up`);
  }
  for (const [table, route] of desired.routes) {
    const had = applied.routes.get(table);
    if (!had || !sameRoute(had, route)) lines.push(`route replace ${routeText(route, family)}`);
  }
  for (const [text] of desired.rules) if (!applied.rules.has(text)) lines.push(`rule add ${text}`);
  return lines;
}

/** References first (rules, then the routes through the device), the device last. */
export function shrinkLines(applied: FamilyRoutes, desired: FamilyRoutes, family: IpFamily): string[] {
  const lines: string[] = [];
  for (const [text] of applied.rules) if (!desired.rules.has(text)) lines.push(`rule del ${text}`);
  for (const [table] of applied.routes) if (!desired.routes.has(table)) lines.push(`route del default table ${table}`);
  if (applied.tunnel && !desired.tunnel) lines.push(`link del ${TUNNEL_DEVICE[family]}`);
  return lines;
}

/** After grow: what the kernel holds is both (applied's extras still there until shrink). */
export function union(applied: FamilyRoutes, desired: FamilyRoutes): FamilyRoutes {
  return {
    rules: new Map([...applied.rules, ...desired.rules]),
    routes: new Map([...applied.routes, ...desired.routes]),
    tunnel: applied.tunnel || desired.tunnel,
  };
}

/** Everything of a family, as `ip -batch` input for a kernel that holds none of it (render). */
export const createLines = (desired: FamilyRoutes, family: IpFamily): string[] => growLines(emptyFamily(), desired, family);

/** Differences between what was applied and what the kernel holds, one line each. */
export function compareRoutes(applied: FamilyRoutes, observed: FamilyRoutes, family: IpFamily): string[] {
  const out: string[] = [];
  const tag = family === 'ipv6' ? 'ip -6' : 'ip';
  for (const [text] of applied.rules) if (!observed.rules.has(text)) out.push(`${tag} rule "${text}" missing from the kernel`);
  for (const [text] of observed.rules) if (!applied.rules.has(text)) out.push(`${tag} rule "${text}" in the kernel that the agent did not apply`);
  for (const [table, route] of applied.routes) {
    const seen = observed.routes.get(table);
    if (!seen) out.push(`${tag} table ${table}: route missing from the kernel`);
    else if (!sameRoute(seen, route)) out.push(`${tag} table ${table}: "${routeText(seen, family)}" in the kernel, "${routeText(route, family)}" applied`);
  }
  for (const [table] of observed.routes) if (!applied.routes.has(table)) out.push(`${tag} table ${table}: in the kernel, not applied`);
  if (applied.tunnel && !observed.tunnel) out.push(`${tag} link ${TUNNEL_DEVICE[family]}: missing from the kernel`);
  if (!applied.tunnel && observed.tunnel) out.push(`${tag} link ${TUNNEL_DEVICE[family]}: in the kernel, not applied`);
  return out;
}
