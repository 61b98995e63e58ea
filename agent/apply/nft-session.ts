// One long-lived `nft -i` for the apply path. Each input line is one batch, so one transaction; a
// one-shot `nft -f` instead pays an exec and, when it deleted anything, waits at exit for an RCU
// grace period (the kernel flushes its destroy work when the netlink socket closes): ~10-15 ms.

import { spawn, type ChildProcess } from 'node:child_process';

/** Answered locally, without the kernel: its reply marks the end of the reply to the line before. */
const PROBE = 'describe meta mark';

export interface NftSessionOptions {
  /** How to start nft, e.g. ['nft'] or ['ip', 'netns', 'exec', 'ns1', 'nft']; `-i` is appended. */
  readonly argv: readonly string[];
  readonly timeoutMs: number;
  /** Lines before the process is replaced: nft keeps every line in its (in-memory) history. */
  readonly maxLines?: number;
}

export class NftSession {
  private child: ChildProcess | undefined;
  /** The probe's reply line as this nft prints it, learnt when the process starts. */
  private marker: string | undefined;
  private buffer = '';
  private pending: { resolve: (out: string) => void; reject: (err: Error) => void } | undefined;
  private lines = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: NftSessionOptions) {}

  /**
   * Runs one transaction; resolves with what nft printed for it (empty: committed; else it was
   * refused as a whole). Rejects when the process failed: whether it committed is then unknown.
   */
  run(text: string): Promise<string> {
    const line = text.split('\n').filter((l) => l.trim() && !l.startsWith('#')).join('; ');
    const result = this.queue.then(() => this.send(line));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * `#` starts a comment and a trailing `\` continues a line even on a joined line, and control
   * characters are line editing to libedit: text with any of them goes to `nft -f` instead.
   */
  static fits(text: string): boolean {
    return text.split('\n').every((l) => l.startsWith('#') || !/[#\\\x00-\x1f\x7f]/.test(l));
  }

  close(): void {
    const child = this.child;
    this.child = undefined;
    this.pending?.reject(new Error('nft -i closed'));
    this.pending = undefined;
    child?.stdin?.end();
  }

  private async send(line: string): Promise<string> {
    if (this.child && this.lines >= (this.options.maxLines ?? 1000)) this.close();
    if (!this.child) await this.start();
    this.lines++;
    return this.request(`${line}\n${PROBE}\n`);
  }

  private async start(): Promise<void> {
    // Through sh for `2>&1`: errors and the probe's reply then arrive in the order nft wrote them.
    const child = spawn('/bin/sh', ['-c', 'exec "$@" -i 2>&1', 'nft-session', ...this.options.argv], {
      stdio: ['pipe', 'pipe', 'ignore'],
      // No history file: nft -i would write every transaction to ~/.nft.history at exit.
      env: { ...process.env, HOME: '/nonexistent' },
    });
    this.child = child;
    this.buffer = '';
    this.marker = undefined;
    this.lines = 0;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (data: string) => {
      this.buffer += data;
      this.check();
    });
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.pending?.reject(new Error(`nft -i ${why}`));
      this.pending = undefined;
    };
    child.on('error', (err) => gone(`could not run: ${err.message}`));
    child.on('exit', (code, signal) => gone(`exited (${signal ?? code}): ${this.buffer.trim().slice(0, 500)}`));
    child.stdin!.on('error', () => undefined);
    // An idle session must not keep the agent (or a test) from exiting.
    child.unref();
    for (const s of [child.stdin, child.stdout] as unknown as { unref?: () => void }[]) s.unref?.();
    try {
      await this.request(`${PROBE}\n`);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private request(input: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const child = this.child;
        this.pending = undefined;
        this.close();
        child?.kill('SIGKILL');
        reject(new Error(`nft -i did not answer within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      this.pending = {
        resolve: (out) => (clearTimeout(timer), resolve(out)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      };
      if (!this.child) return this.pending.reject(new Error('nft -i is not running'));
      this.child.stdin!.write(input);
      this.check();
    });
  }

  private check(): void {
    if (!this.pending) return;
    const { resolve, reject } = this.pending;
    if (this.marker === undefined) {
      const end = this.buffer.indexOf('\n');
      if (end < 0) return;
      this.marker = this.buffer.slice(0, end + 1);
      this.buffer = this.buffer.slice(end + 1);
      this.pending = undefined;
      // Not a reply to rely on: the caller falls back to `nft -f`.
      if (/error/i.test(this.marker)) reject(new Error(`nft -i: unexpected reply to "${PROBE}": ${this.marker.trim()}`));
      else resolve('');
      return;
    }
    let cut: number;
    if (this.buffer.startsWith(this.marker)) cut = 0;
    else {
      const at = this.buffer.indexOf(`\n${this.marker}`);
      if (at < 0) return;
      cut = at + 1;
    }
    const out = this.buffer.slice(0, cut);
    this.buffer = this.buffer.slice(cut + this.marker.length);
    this.pending = undefined;
    resolve(out);
  }
}
