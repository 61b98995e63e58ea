// A process in a lab namespace whose every stdout line and whose exit reach the caller: what the
// soak's runner needs of agents, servers and Redis, where the harness keeps only a capped buffer.

import { createInterface } from 'node:readline';
import { execa } from 'execa';
import type { Lab } from '../netns/topology.js';

export interface Exit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** A process in a lab namespace whose every stdout line and its exit reach the caller. */
export interface Watched {
  readonly pid: number | undefined;
  readonly exited: boolean;
  readonly done: Promise<Exit>;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after `graceMs`; resolves on exit. */
  stop(graceMs?: number): Promise<Exit>;
  waitForLine(match: RegExp, timeoutMs: number): Promise<string>;
}

export interface Hooks {
  line?(line: string): void;
  exit?(exit: Exit): void;
}

export function spawnWatched(lab: Lab, host: string, cmd: string, args: readonly string[], hooks: Hooks = {}): Watched {
  const child = execa('ip', ['netns', 'exec', lab.nsName(host), cmd, ...args], { buffer: false, reject: false, stdin: 'ignore', cleanup: true });
  const waiters = new Set<(line: string) => void>();
  let exited = false;
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      hooks.line?.(line);
      for (const w of waiters) w(line);
    });
  }
  child.stderr?.resume();
  const done: Promise<Exit> = child.then(
    (r) => ({ code: r.exitCode ?? null, signal: r.signal ?? null }),
    () => ({ code: null, signal: null }),
  ).then((e) => {
    exited = true;
    hooks.exit?.(e);
    return e;
  });
  const handle: Watched = {
    pid: child.pid,
    get exited() {
      return exited;
    },
    done,
    kill: (signal) => void (exited || child.kill(signal)),
    async stop(graceMs = 3000) {
      if (exited) return done;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const e = await done;
      clearTimeout(timer);
      return e;
    },
    waitForLine: (match, timeoutMs) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(onLine);
        reject(new Error(`${cmd} in ${host}: no line matching ${String(match)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onLine = (line: string) => {
        if (!match.test(line)) return;
        clearTimeout(timer);
        waiters.delete(onLine);
        resolve(line);
      };
      waiters.add(onLine);
      void done.then(() => {
        if (!waiters.has(onLine)) return;
        clearTimeout(timer);
        waiters.delete(onLine);
        reject(new Error(`${cmd} in ${host} exited before printing ${String(match)}`));
      });
    }),
  };
  return handle;
}
