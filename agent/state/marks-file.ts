// Marks this node has used, persisted in the state dir so they survive restarts and reloads.

import { readFile } from 'node:fs/promises';
import { writeIfChanged } from './atomic-write.js';
import { isBackendKey } from './store.js';
import { join } from 'node:path';

const FILE = 'marks.json';

/** Reads the saved marks; a missing or damaged file yields none (marks are then re-derived). */
export async function readMarks(stateDir: string): Promise<Map<string, number>> {
  try {
    const data = JSON.parse(await readFile(join(stateDir, FILE), 'utf8')) as unknown;
    const marks = new Map<string, number>();
    if (data && typeof data === 'object') {
      for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
        if (isBackendKey(key) && Number.isInteger(value) && (value as number) > 0 && (value as number) <= 0xffffffff) {
          marks.set(key, value as number);
        }
      }
    }
    return marks;
  } catch {
    return new Map();
  }
}

/** Rewrites the file only when the marks differ from what it holds. */
export async function writeMarks(stateDir: string, marks: ReadonlyMap<string, number>): Promise<void> {
  await writeIfChanged(join(stateDir, FILE), `${JSON.stringify(Object.fromEntries([...marks].sort()), null, 1)}\n`);
}
