// The latest operator action this node knows per backend (revision, node, time), kept in the state
// dir so that after a restart the node can still republish them when Redis has lost its data, and
// never follows an action older than one it already applied.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { actionSchema, type ActionRecord } from '../cluster/messages.js';
import { isBackendKey } from './store.js';
import { writeFileAtomic } from './atomic-write.js';

const FILE = 'cluster-actions.json';

/** Parses the file, keeping every valid entry (the file is input too). */
export function parseClusterActions(text: string): Map<string, ActionRecord> {
  const out = new Map<string, ActionRecord>();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return out;
  }
  const actions = (data as { actions?: unknown } | null)?.actions;
  if (!actions || typeof actions !== 'object') return out;
  for (const [key, raw] of Object.entries(actions as Record<string, unknown>)) {
    const parsed = actionSchema.safeParse(raw);
    if (isBackendKey(key) && parsed.success) out.set(key, parsed.data);
  }
  return out;
}

export async function readClusterActions(stateDir: string): Promise<Map<string, ActionRecord>> {
  try {
    return parseClusterActions(await readFile(join(stateDir, FILE), 'utf8'));
  } catch {
    return new Map();
  }
}

export async function writeClusterActions(stateDir: string, actions: ReadonlyMap<string, ActionRecord>): Promise<void> {
  const sorted = Object.fromEntries([...actions].sort(([a], [b]) => (a < b ? -1 : 1)));
  await writeFileAtomic(join(stateDir, FILE), `${JSON.stringify({ version: 1, actions: sorted }, null, 1)}\n`, 0o640);
}
