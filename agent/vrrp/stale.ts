// Stops a helper left running by an earlier agent (found by its pid file), but only when its
// command line proves it is ours: a recycled pid must never be signalled.

import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';

const WAIT_STEP_MS = 50;
const WAIT_MAX_MS = 6000;

async function cmdline(pid: number): Promise<string | undefined> {
  return readFile(`/proc/${pid}/cmdline`, 'utf8').then((s) => s.split('\0').join(' '), () => undefined);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** SIGTERM the process in `pidFile` if its command line mentions `marker`; SIGKILL after 6 s. */
export async function stopStale(pidFile: string, marker: string, logger: Logger): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
  const command = await cmdline(pid);
  if (!command?.includes(marker)) return;
  logger.warn({ pid, command }, 'stopping a helper left running by an earlier agent');
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < WAIT_MAX_MS; waited += WAIT_STEP_MS) {
    // A zombie has an empty command line: it is gone as far as the VIP is concerned.
    if (!(await cmdline(pid))) return;
    await sleep(WAIT_STEP_MS);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone in the meantime
  }
}
