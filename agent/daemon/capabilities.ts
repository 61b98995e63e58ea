// The daemon changes netfilter, conntrack and (through keepalived) addresses: all of it needs
// CAP_NET_ADMIN. Without it iptables says "Permission denied (you must be root)" even to root
// in a unit whose CapabilityBoundingSet= left it out; this says what is missing, before any of it.

import { readFile } from 'node:fs/promises';

/** capability(7) numbers the agent cannot run without. */
const REQUIRED = { CAP_NET_ADMIN: 12 } as const;

/** The effective set from /proc/self/status text (`CapEff:\t0000000000003000`); undefined when absent. */
export function effectiveCapabilities(status: string): bigint | undefined {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex === undefined ? undefined : BigInt(`0x${hex}`);
}

/** The required capabilities missing from `effective`. */
export function missingCapabilities(effective: bigint): string[] {
  return Object.entries(REQUIRED).filter(([, bit]) => (effective & (1n << BigInt(bit))) === 0n).map(([name]) => name);
}

/** Rejects, naming what is missing and where to grant it, when the process cannot change netfilter. */
export async function assertNetworkCapabilities(read: () => Promise<string> = () => readFile('/proc/self/status', 'utf8')): Promise<void> {
  let effective: bigint | undefined;
  try {
    effective = effectiveCapabilities(await read());
  } catch {
    return; // no /proc: let the first netfilter command report what it finds
  }
  if (effective === undefined) return;
  const missing = missingCapabilities(effective);
  if (missing.length === 0) return;
  throw new Error(`ha-agent needs ${missing.join(', ')} to change netfilter rules, conntrack entries and the VIPs, and this process does not have it ` +
    `(effective capabilities 0x${effective.toString(16)}): run it as root, or grant it in the unit's CapabilityBoundingSet= (the packaged ` +
    'ha-agent.service does)');
}
