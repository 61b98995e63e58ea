// The shared config (farms pushed through the cluster) this node last applied, kept in the state
// dir so a restart keeps it. Apart from the cluster service: the daemon reads it at startup
// without loading the Redis client.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseValue, sharedConfigSchema, type SharedConfig } from '../cluster/messages.js';
import { writeFileAtomic } from './atomic-write.js';

const FILE = 'cluster-config.json';

/** The applied shared config, or null when there is none or it does not validate (the file is input). */
export async function readAppliedShared(stateDir: string): Promise<SharedConfig | null> {
  try {
    const parsed = parseValue(sharedConfigSchema, await readFile(join(stateDir, FILE), 'utf8'));
    return parsed.ok ? parsed.value : null;
  } catch {
    return null;
  }
}

export async function writeAppliedShared(stateDir: string, shared: SharedConfig): Promise<void> {
  await writeFileAtomic(join(stateDir, FILE), `${JSON.stringify(shared)}\n`, 0o640);
}
