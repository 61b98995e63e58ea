// control.group -> gid, read from /etc/group: no shell, no getent, no NSS surprises in tests.

import { readFile } from 'node:fs/promises';

/** The gid of `name` in /etc/group text, or undefined when absent. */
export function parseGroupFile(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

const GROUP_FILE = '/etc/group';

/** A group name or a numeric gid; rejects with a message naming the group when it is unknown. */
export async function resolveGroup(group: string): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  let text: string;
  try {
    text = await readFile(GROUP_FILE, 'utf8');
  } catch (err) {
    throw new Error(`control.group "${group}": cannot read ${GROUP_FILE}: ${(err as Error).message}`);
  }
  const gid = parseGroupFile(text, group);
  if (gid === undefined) throw new Error(`control.group "${group}" is not a group in ${GROUP_FILE}`);
  return gid;
}
