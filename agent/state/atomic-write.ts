// Write-then-rename, so a crash never leaves a half-written state or config file.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode });
  await rename(tmp, path);
}

/** Writes `text` to `path` unless it already holds exactly that; says whether it wrote. */
export async function writeIfChanged(path: string, text: string, mode = 0o644): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await writeFileAtomic(path, text, mode);
  return true;
}
