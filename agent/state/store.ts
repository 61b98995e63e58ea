// Last known health and operator admin state per backend, persisted in the state dir so a
// restart neither sends traffic to a backend that was down nor forgets an operator's drain.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ADMIN_STATES, BACKEND_NAME, FARM_NAME, type AdminState } from '../../config/schema.js';
import type { Health } from '../plan/plan.js';
import { writeFileAtomic } from './atomic-write.js';

export interface SavedBackend {
  readonly health: Health;
  /** Present only when an operator set it (agentctl); config admin applies otherwise. */
  readonly admin?: AdminState;
  readonly since: number;
}

export type SavedState = ReadonlyMap<string, SavedBackend>;

const FILE = 'state.json';
const HEALTH = new Set(['up', 'down', 'unknown']);

/** A `farm/backend` key made of valid names (the state files are input: never trusted). */
export function isBackendKey(key: string): boolean {
  const slash = key.indexOf('/');
  return slash > 0 && FARM_NAME.test(key.slice(0, slash)) && BACKEND_NAME.test(key.slice(slash + 1));
}

/** Parses the saved state, keeping every valid entry and dropping the rest (the file is input too). */
export function parseSavedState(text: string): Map<string, SavedBackend> {
  const out = new Map<string, SavedBackend>();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return out;
  }
  const backends = (data as { backends?: unknown })?.backends;
  if (!backends || typeof backends !== 'object') return out;
  for (const [key, raw] of Object.entries(backends as Record<string, unknown>)) {
    const entry = raw as Record<string, unknown>;
    if (!isBackendKey(key) || !entry || typeof entry !== 'object' || !HEALTH.has(entry.health as string)) continue;
    const admin = (ADMIN_STATES as readonly string[]).includes(entry.admin as string) ? (entry.admin as AdminState) : undefined;
    const since = Number.isFinite(entry.since) ? (entry.since as number) : 0;
    out.set(key, { health: entry.health as Health, ...(admin ? { admin } : {}), since });
  }
  return out;
}

export async function readSavedState(stateDir: string): Promise<Map<string, SavedBackend>> {
  try {
    return parseSavedState(await readFile(join(stateDir, FILE), 'utf8'));
  } catch {
    return new Map();
  }
}

export async function writeSavedState(stateDir: string, state: SavedState): Promise<void> {
  const backends = Object.fromEntries([...state].sort(([a], [b]) => (a < b ? -1 : 1)));
  await writeFileAtomic(join(stateDir, FILE), `${JSON.stringify({ version: 1, backends }, null, 1)}\n`, 0o640);
}
