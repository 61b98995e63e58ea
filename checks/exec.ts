// Exec probe: runs an external check command (Nagios-plugin style), exit 0 = up.

import { basename } from 'node:path';
import type { Runner } from '../agent/apply/runner.js';
import { findCheckProgram, type CheckSearch } from '../config/program.js';
import { ABORTED } from './errors.js';
import type { CheckResult, CheckTarget, Probe } from './types.js';

const TOKEN = /\{(ip|port|farm|backend)\}/g;

/**
 * How long past the timeout the probe waits for the runner before giving up on it. The runner
 * kills the program at the timeout but then waits for its output pipes to close, which a
 * grandchild (`sh -c 'sleep 60'`) can hold open long after.
 */
export const EXEC_GRACE_MS = 100;

/** The longest message kept from the program's output. */
const MAX_MESSAGE = 200;

/**
 * Replaces `{ip}` `{port}` `{farm}` `{backend}` in one argument, in one pass, so a value that
 * itself contains a token is never substituted again. The result stays one argument: no shell
 * ever sees it.
 */
export function substituteTokens(arg: string, target: CheckTarget): string {
  return arg.replace(TOKEN, (_match, name: 'ip' | 'port' | 'farm' | 'backend') => String(target[name]));
}

/** The first non-empty line, without Nagios performance data (the part after `|`). */
export function firstLine(output: string): string {
  const line = output.split('\n').find((l) => l.trim() !== '') ?? '';
  const text = line.split('|')[0]!.trim();
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}...` : text;
}

/**
 * `search` is where a bare program name is looked for: PATH, then Debian's plugin directory, as
 * check-config does. A name found nowhere goes to the runner as written, which reports why.
 */
export function execProbe(command: readonly string[], runner: Runner, search: CheckSearch = {}): Probe {
  const [program, ...args] = command;
  if (program === undefined) throw new TypeError('exec check: the command is empty');
  const label = `exec ${basename(program)}`;
  // Found once, looked for again only when it could not be started (removed, or not there yet).
  let found: string | undefined;

  return (target, timeoutMs, signal) => {
    const started = performance.now();
    const result = (ok: boolean, detail: string): CheckResult =>
      ({ ok, message: detail ? `${label}: ${detail}` : label, latencyMs: performance.now() - started });
    if (signal?.aborted) return Promise.resolve(result(false, ABORTED));
    const timedOut = `timed out after ${timeoutMs} ms`;

    return new Promise<CheckResult>((resolve) => {
      let done = false;
      const finish = (r: CheckResult): void => {
        if (done) return;
        done = true;
        clearTimeout(guard);
        signal?.removeEventListener('abort', onAbort);
        resolve(r);
      };
      // An abort answers now; the runner kills the program's process group.
      const onAbort = (): void => finish(result(false, ABORTED));
      const guard = setTimeout(() => finish(result(false, timedOut)), timeoutMs + EXEC_GRACE_MS);
      signal?.addEventListener('abort', onAbort, { once: true });

      const located = found !== undefined ? Promise.resolve(found) : findCheckProgram(program, search);
      located.then((file) => {
        found = file;
        // Aborted or timed out while looking: nothing to start.
        if (done) return undefined;
        return runner.run(file ?? program, args.map((a) => substituteTokens(a, target)), { timeoutMs, ...(signal ? { signal } : {}) });
      }).then((run) => {
        if (run === undefined) return;
        if (run.spawnError !== undefined) {
          found = undefined;
          return finish(result(false, firstLine(run.spawnError)));
        }
        if (run.timedOut) return finish(result(false, timedOut));
        const said = firstLine(run.stdout) || firstLine(run.stderr);
        if (run.exitCode === 0) return finish(result(true, said));
        finish(result(false, said ? `exit ${run.exitCode}: ${said}` : `exit ${run.exitCode}`));
      }, (err: unknown) => finish(result(false, err instanceof Error ? err.message : String(err))));
    });
  };
}
