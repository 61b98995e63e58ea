// The one way the agent replaces a file (state, marks, keepalived and conntrackd configs): a
// reader, or the agent after a crash or power loss, sees the old content or the new, never a
// mix. The temporary name is unique, so two writers of one file never write into each other's
// temporary; the file is flushed before the rename (else the new name may point at empty blocks
// after a power loss) and the directory after it (a rename is durable only once its directory is).

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  // Hidden and in the same directory: a rename never crosses file systems.
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(tmp, 'wx', mode);
    try {
      await file.writeFile(content, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/** Writes `text` to `path` unless it already holds exactly that; says whether it wrote. */
export async function writeIfChanged(path: string, text: string, mode = 0o644): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await writeFileAtomic(path, text, mode);
  return true;
}
