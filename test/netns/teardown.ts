// Guarantees labs are torn down: process hooks for exit/signals/crashes, and removal of stale labs.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execa, execaSync } from 'execa';

/** Every namespace the harness creates starts with `hat` + 5 base36 chars + `-`. */
export const HARNESS_PREFIX_PATTERN = /^hat[0-9a-z]{5}-/;
// Owner files live on tmpfs like /run/netns, so both vanish together on reboot.
const OWNER_DIR = '/run/ha-agent-test-netns';

export interface Teardownable {
  readonly prefix: string;
  /** Synchronous last-resort teardown, safe to call from an 'exit' handler. */
  destroySync(): void;
}

const ownerFile = (prefix: string): string => `${OWNER_DIR}/${prefix}.pid`;

const live = new Set<Teardownable>();
let hooksInstalled = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function destroyAllSync(): void {
  for (const lab of [...live]) {
    try {
      lab.destroySync();
    } catch (err) {
      process.stderr.write(`netns teardown of ${lab.prefix} failed: ${String(err)}\n`);
    }
    live.delete(lab);
    rmSync(ownerFile(lab.prefix), { force: true });
  }
}

function onExit(): void {
  destroyAllSync();
}

function onSignal(signal: NodeJS.Signals): void {
  destroyAllSync();
  removeHooks();
  // Installing a listener disabled the default "die on signal"; if nobody else handles it,
  // re-raise so the process still exits with the conventional signal status.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function onCrash(): void {
  // A monitor does not swallow the error. Only tear down when the crash is really fatal: under
  // node:test an 'uncaughtException' listener exists and the process (and other tests) go on.
  if (process.listenerCount('uncaughtException') === 0) destroyAllSync();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('uncaughtExceptionMonitor', onCrash);
}

function removeHooks(): void {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('uncaughtExceptionMonitor', onCrash);
}

/** Registers a lab before it creates anything, and records this process as its owner. */
export function track(lab: Teardownable): void {
  live.add(lab);
  installHooks();
  try {
    mkdirSync(OWNER_DIR, { recursive: true });
    writeFileSync(ownerFile(lab.prefix), String(process.pid));
  } catch {
    // Without an owner file the lab just looks stale to cleanupStale, which is the safe side.
  }
}

export function untrack(lab: Teardownable): void {
  live.delete(lab);
  rmSync(ownerFile(lab.prefix), { force: true });
  if (live.size === 0) removeHooks();
}

function ownerAlive(prefix: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(ownerFile(prefix), 'utf8').trim());
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    // A killed owner can linger as a zombie until its reaper gets to it; that counts as dead.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Names from `ip netns list` (which prints "name (id: N)" for namespaces with an id). */
export async function listNetns(): Promise<string[]> {
  const { stdout } = await execa('ip', ['netns', 'list'], { timeout: 5000 });
  return parseNetnsList(stdout);
}

export function parseNetnsList(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/** Kills whatever still runs in `ns` and deletes it; synchronous for exit handlers. */
export function deleteNetnsSync(ns: string): void {
  const pids = execaSync('ip', ['netns', 'pids', ns], { reject: false, timeout: 5000 });
  for (const pid of parseNetnsList(String(pids.stdout ?? ''))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  execaSync('ip', ['netns', 'del', ns], { reject: false, timeout: 5000 });
}

export async function deleteNetns(ns: string): Promise<void> {
  const pids = await execa('ip', ['netns', 'pids', ns], { reject: false, timeout: 5000 });
  for (const pid of parseNetnsList(String(pids.stdout ?? ''))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await execa('ip', ['netns', 'del', ns], { reject: false, timeout: 5000 });
}

/**
 * Deletes namespaces left by crashed runs: names matching `pattern` (RegExp, or a string prefix)
 * whose owning process is gone. Labs of live processes (e.g. parallel test files) are kept
 * unless `force` is set. Returns the deleted names.
 */
export async function cleanupStale(
  pattern: RegExp | string = HARNESS_PREFIX_PATTERN,
  opts: { force?: boolean } = {},
): Promise<string[]> {
  const test = (n: string): boolean => (typeof pattern === 'string' ? n.startsWith(pattern) : pattern.test(n));
  const removed: string[] = [];
  for (const ns of (await listNetns()).filter(test)) {
    const prefix = ns.split('-')[0] ?? ns;
    if (!opts.force && ownerAlive(prefix)) continue;
    await deleteNetns(ns);
    rmSync(ownerFile(prefix), { force: true });
    removed.push(ns);
  }
  return removed;
}
