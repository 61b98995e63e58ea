// Handle for a long-running program inside a namespace: stdout lines, bounded waits, kill/stop.
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { withTimeout } from './poll.js';

export interface ExitInfo {
  exitCode: number | undefined;
  signal: string | undefined;
}

export interface NsProcess {
  readonly host: string;
  readonly pid: number | undefined;
  /** stdout lines so far (oldest dropped beyond MAX_LINES). */
  readonly lines: readonly string[];
  readonly stderrLines: readonly string[];
  readonly exited: boolean;
  /** Resolves with the first stdout line (already seen or future) matching; rejects on timeout or exit. */
  waitForLine(match: string | RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): boolean;
  wait(timeoutMs?: number): Promise<ExitInfo>;
  /** SIGTERM, then SIGKILL after `graceMs`; always resolves. */
  stop(graceMs?: number): Promise<ExitInfo>;
}

const MAX_LINES = 10_000;

function pushCapped(into: string[], line: string): void {
  into.push(line);
  if (into.length > MAX_LINES) into.shift();
}

function matches(line: string, match: string | RegExp): boolean {
  return typeof match === 'string' ? line.includes(match) : match.test(line);
}

/** Starts `cmd args` in namespace `ns`; `ip netns exec` execs in place, so pid is the program's. */
export function spawnInNs(host: string, ns: string, cmd: string, args: readonly string[]): NsProcess {
  const child = execa('ip', ['netns', 'exec', ns, cmd, ...args], {
    buffer: false,
    reject: false,
    stdin: 'ignore',
    // execa's cleanup kills the child if this process exits without running destroy().
    cleanup: true,
  });
  const events = new EventEmitter();
  const lines: string[] = [];
  const stderrLines: string[] = [];
  let exited = false;

  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      pushCapped(lines, line);
      events.emit('line', line);
    });
  }
  if (child.stderr) createInterface({ input: child.stderr }).on('line', (line) => pushCapped(stderrLines, line));

  const done: Promise<ExitInfo> = child.then(
    (r) => ({ exitCode: r.exitCode, signal: r.signal }),
    (err: unknown) => ({ exitCode: undefined, signal: err instanceof Error ? err.message : String(err) }),
  );
  void done.then(() => {
    exited = true;
    events.emit('exit');
  });

  const describe = (): string => `${cmd} in ${host}`;

  const handle: NsProcess = {
    host,
    pid: child.pid,
    lines,
    stderrLines,
    get exited() {
      return exited;
    },
    waitForLine(match, timeoutMs = 5000) {
      const seen = lines.find((l) => matches(l, match));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const cleanup = (): void => {
          clearTimeout(timer);
          events.off('line', onLine);
          events.off('exit', onExit);
        };
        const onLine = (line: string): void => {
          if (!matches(line, match)) return;
          cleanup();
          resolve(line);
        };
        const onExit = (): void => {
          cleanup();
          const tail = stderrLines.slice(-5).join(' | ');
          reject(new Error(`${describe()} exited before printing ${String(match)}; stderr: ${tail}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()} to print ${String(match)}`));
        }, timeoutMs);
        events.on('line', onLine);
        events.once('exit', onExit);
        if (exited) onExit();
      });
    },
    kill(signal = 'SIGTERM') {
      return exited ? false : child.kill(signal);
    },
    wait(timeoutMs = 5000) {
      return withTimeout(done, timeoutMs, `${describe()} to exit`);
    },
    async stop(graceMs = 2000) {
      if (exited) return done;
      child.kill('SIGTERM');
      try {
        return await withTimeout(done, graceMs, `${describe()} to stop`);
      } catch {
        child.kill('SIGKILL');
        // SIGKILL cannot be ignored; the bound only guards against a stuck pipe.
        return withTimeout(done, 2000, `${describe()} to die`).catch(() => ({ exitCode: undefined, signal: 'SIGKILL' }));
      }
    },
  };
  return handle;
}
