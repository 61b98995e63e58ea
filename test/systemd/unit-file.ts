// Reading the shipped unit's directives, for the tests that check it and run the agent as it would.

import { readFileSync } from 'node:fs';
import { repoPath } from '../support/repo.js';

export const UNIT_PATH = repoPath('systemd/ha-agent.service');

export const unitText = (): string => readFileSync(UNIT_PATH, 'utf8');

/** Every value of `name=` in the unit, in order. */
export function directive(name: string, text = unitText()): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}=`)).map((l) => l.slice(name.length + 1));
}

/** CapabilityBoundingSet= as capability names, e.g. ['CAP_NET_ADMIN', 'CAP_NET_RAW']. */
export function boundingSet(text = unitText()): string[] {
  return directive('CapabilityBoundingSet', text).flatMap((v) => v.split(/\s+/)).filter(Boolean);
}

/** The same set as setpriv(1) spells it: `-all,+net_admin,+net_raw`. */
export function setprivCaps(caps: readonly string[]): string {
  return ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
}
