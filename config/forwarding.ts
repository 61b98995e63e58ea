// What the direct-return modes ask of a farm. dsr and tunnel hand the client's packet unchanged
// to a backend that answers the client itself, and the LB does not track VIP traffic (NOTRACK),
// so that any LB of an ECMP group can carry any packet of a flow: every packet is placed on its
// own, and everything that needs a connection table on the LB cannot work. Pure.

import type { FarmConfig } from './schema.js';

type Add = (path: string, message: string) => void;

/** The modes that route the packet to the backend instead of rewriting it. */
export const isDirectReturn = (mode: FarmConfig['mode']): boolean => mode === 'dsr' || mode === 'tunnel';

/** A backend's table is 0x48410000 + its mark (agent/route/plan.ts): marks stay below this. */
const ROUTED_MARK_LIMIT = 0x10000;

export function forwardingIssues(farm: FarmConfig, at: string, add: Add): void {
  if (!isDirectReturn(farm.mode)) return;
  const mode = farm.mode;
  // Per-packet placement must give every packet of a flow the same backend on every LB.
  if (farm.algorithm !== 'hash-5tuple' && farm.algorithm !== 'hash-srcip') {
    add(`${at}.algorithm`, `mode ${mode} places every packet on its own (no connection tracking on the LB), so it needs a hash: hash-5tuple (consistent on every LB), or hash-srcip (one client, one backend); ${farm.algorithm} would send a flow's packets to different backends`);
  }
  const stateless = `mode ${mode} does not track connections on the LB`;
  if (farm.persistence) add(`${at}.persistence`, `${stateless}, and the hash already keeps a flow on its backend; remove persistence`);
  if (farm.helper !== undefined) add(`${at}.helper`, `${stateless}, so the ${farm.helper} helper cannot follow its control connections; use dnat or snat`);
  if (farm.limits) add(`${at}.limits`, `${stateless}, so it can neither tell new connections apart nor count them; remove limits`);
  if (farm.log) add(`${at}.log`, `${stateless}, so it cannot log new connections; log on the backends`);
  farm.backends.forEach((backend, b) => {
    if (backend.mark !== undefined && backend.mark >= ROUTED_MARK_LIMIT) {
      add(`${at}.backends[${b}].mark`, `mode ${mode} routes each backend through its own table, numbered from its mark, so the mark must be below 0x10000`);
    }
    if (backend.max_conns > 0) add(`${at}.backends[${b}].max_conns`, `${stateless}, so it cannot count a backend's connections; remove max_conns`);
    // The backend receives the packet as the client sent it: to the VIP and its port.
    if (backend.port !== undefined && !farm.ports.every((r) => r.from === backend.port && r.to === backend.port)) {
      add(`${at}.backends[${b}].port`, `mode ${mode} does not rewrite the packet, so the backend serves the VIP's own port; remove port (the backend must listen on ${farm.ports.map((r) => (r.from === r.to ? r.from : `${r.from}-${r.to}`)).join(',')} at the VIP)`);
    }
  });
  if (farm.snat_source !== 'vip') {
    add(`${at}.snat_source`, `mode ${mode} does not rewrite the source; remove snat_source`);
  }
}

/**
 * Route by mark needs the VIP not to be an address of the LB: the kernel's local table (rule
 * preference 0) comes before the agent's fwmark rules and would deliver the packet to the LB
 * itself. keepalived puts every farm VIP on the MASTER, so vrrp and a dsr or tunnel farm cannot
 * go together; BGP announces the VIP without adding it to the LB.
 */
export function directReturnVrrpIssues(farms: readonly (FarmConfig | undefined)[], add: Add): void {
  farms.forEach((farm, f) => {
    if (!farm || !isDirectReturn(farm.mode)) return;
    add(`farms[${f}].mode`, `mode ${farm.mode} routes the packets for ${farm.vip} to the backend by their mark, which needs ${farm.vip} not to be an address of this LB (the local table comes before the agent's mark rules and would deliver them here), and vrrp puts every farm VIP on the MASTER; announce the VIP with bgp instead of vrrp (active-active behind ECMP), or use mode dnat or snat with vrrp`);
  });
}
