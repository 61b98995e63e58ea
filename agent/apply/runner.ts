// The one way the agent runs external programs: an argument array (never a shell string),
// a timeout, and a result value instead of an exception, so it can be logged, timed and faked.

import { execa } from 'execa';

export interface RunOptions {
  /** Written to the program's stdin (iptables-restore, nft -f -). */
  readonly input?: string;
  /** Killed (SIGKILL) after this long; the result then has timedOut set. */
  readonly timeoutMs?: number;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Aborting kills the program (and its children) at once. */
  readonly signal?: AbortSignal;
  /**
   * Told the program's pid as soon as it is started, before it can do anything; the function it
   * returns is called once the program has ended. The ruleset writers use it so their kernel
   * transactions are recognised as the agent's own.
   */
  readonly onSpawn?: (pid: number) => () => void;
}

export interface RunResult {
  readonly command: string;
  readonly args: readonly string[];
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
  readonly timedOut: boolean;
  /** Set when the program could not be started at all (ENOENT, EACCES). */
  readonly spawnError?: string;
}

export interface Runner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** The real runner, on execa. */
export class ExecaRunner implements Runner {
  async run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const started = performance.now();
    const subprocess = execa(command, args, {
      input: options.input,
      env: options.env,
      reject: false,
      stripFinalNewline: false,
      shell: false,
      stdin: options.input === undefined ? 'ignore' : 'pipe',
      // Its own process group, so a timeout also kills what a check script started (a child
      // holding stdout open would otherwise keep the run waiting).
      detached: true,
    });
    const release = subprocess.pid === undefined ? undefined : options.onSpawn?.(subprocess.pid);
    let timedOut = false;
    const killGroup = () => {
      if (subprocess.pid === undefined) return;
      try {
        process.kill(-subprocess.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    const onAbort = () => killGroup();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const result = await subprocess;
    release?.();
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    const spawnFailed = result.exitCode === undefined && !timedOut && result.signal === undefined;
    return {
      command,
      args,
      exitCode: result.exitCode ?? -1,
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      durationMs: performance.now() - started,
      timedOut,
      ...(spawnFailed ? { spawnError: result.shortMessage } : {}),
    };
  }
}

/** One line describing a failed run, for errors and logs. */
export function describeFailure(result: RunResult): string {
  if (result.spawnError) return `${result.command}: ${result.spawnError}`;
  if (result.timedOut) return `${result.command}: timed out after ${Math.round(result.durationMs)} ms`;
  const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(0, 3).join(' | ');
  return `${result.command} exited ${result.exitCode}${detail ? `: ${detail}` : ''}`;
}
