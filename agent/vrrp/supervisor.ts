// Runs one long-lived helper (keepalived, conntrackd) in the foreground: restarts it with backoff
// when it dies, stops it in order when the agent stops, and forwards its output to the log.

import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { LineSplitter } from '../io/lines.js';
import type { Logger } from '../log.js';

export type SpawnFn = (command: string, args: readonly string[]) => ChildProcess;

export interface SupervisorOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logger: Logger;
  /** Run before every start (clean a stale lock file, ...); a throw counts as a failed start. */
  readonly beforeStart?: () => Promise<void>;
  readonly onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
  /** Called after each start but the first (a restart), e.g. to bring the new helper up to date. */
  readonly onRestart?: () => void;
  readonly spawn?: SpawnFn;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** A run this long resets the backoff. */
  readonly stableMs?: number;
}

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv'];

/**
 * util-linux setpriv sets the parent-death signal and execs the helper (same pid): if the agent
 * is SIGKILLed, the kernel sends the helper SIGTERM, so keepalived leaves MASTER at once (its VRRP
 * child sends a priority-0 advert) instead of holding the VIP for a dead agent: the peer takes
 * over within one advert, not after the heartbeat script's second-scale bound (bench/RESULTS.md).
 */
export function withParentDeathSignal(command: string, args: readonly string[]): { command: string; args: string[] } {
  const setpriv = SETPRIV_PATHS.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return setpriv ? { command: setpriv, args: ['--pdeathsig', 'TERM', '--', command, ...args] } : { command, args: [...args] };
}

const defaultSpawn: SpawnFn = (command, args) => {
  const wrapped = withParentDeathSignal(command, args);
  return nodeSpawn(wrapped.command, wrapped.args, { stdio: ['ignore', 'pipe', 'pipe'] });
};

// keepalived -l prefixes every line with a ctime timestamp; pino has its own.
const TIMESTAMP = /^\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}: /;
/** keepalived and conntrackd log lines are short; anything longer is not a log line worth keeping whole. */
const HELPER_LINE_BYTES = 16 * 1024;

export class Supervisor {
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures = 0;
  private starts = 0;
  private timer: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SupervisorOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.stopping = false;
    void this.launch();
  }

  /** Sends a signal to the running helper (SIGHUP = reload for keepalived). */
  signal(signal: NodeJS.Signals): boolean {
    return this.child?.kill(signal) ?? false;
  }

  /** Stops restarting the helper and leaves it running: for a helper meant to outlive the
   * agent (BIRD keeps announcing across a clean agent stop). */
  release(): void {
    this.stopping = true;
    clearTimeout(this.timer);
    this.child?.unref();
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the helper is gone. */
  async stop(graceMs = 6000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(killer);
  }

  private async launch(): Promise<void> {
    const { name, logger } = this.opts;
    try {
      await this.opts.beforeStart?.();
    } catch (err) {
      logger.error({ helper: name, err: (err as Error).message }, `cannot prepare ${name}`);
      this.scheduleRestart(0);
      return;
    }
    if (this.stopping) return;
    const startedAt = Date.now();
    const child = (this.opts.spawn ?? defaultSpawn)(this.opts.command, this.opts.args);
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      // Capped: a helper that never ends a line must not grow the agent's memory.
      const lines = new LineSplitter(HELPER_LINE_BYTES);
      const log = (line: string) => logger.info({ helper: name }, line.replace(TIMESTAMP, ''));
      stream.on('data', (chunk: Buffer) => lines.push(chunk).forEach(log));
      stream.on('end', () => lines.end().forEach(log));
    }
    this.exited = new Promise((resolve) => {
      let done = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (done) return;
        done = true;
        resolve();
        this.opts.onExit?.(code, signal);
        if (this.stopping) return;
        logger.error({ helper: name, code, signal }, `${name} exited; restarting it`);
        this.scheduleRestart(Date.now() - startedAt);
      };
      child.once('error', (err) => {
        logger.error({ helper: name, err: err.message }, `cannot run ${name}`);
        // A program that could not be started (ENOENT) may never emit 'close'.
        if (child.pid === undefined) finish(null, null);
      });
      child.once('close', finish);
    });
    logger.info({ helper: name, pid: child.pid, command: [this.opts.command, ...this.opts.args].join(' ') }, `${name} started`);
    if (this.starts++ > 0) this.opts.onRestart?.();
  }

  private scheduleRestart(ranMs: number): void {
    if (this.stopping) return;
    const min = this.opts.minBackoffMs ?? 200;
    const max = this.opts.maxBackoffMs ?? 10_000;
    this.failures = ranMs >= (this.opts.stableMs ?? 30_000) ? 0 : this.failures + 1;
    // Restarts are spaced by a doubling delay, so a helper that cannot start never spins.
    const delay = Math.min(max, min * 2 ** Math.min(this.failures, 16));
    this.timer = setTimeout(() => void this.launch(), delay);
  }
}
