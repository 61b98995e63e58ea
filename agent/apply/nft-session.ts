// One long-lived `nft -i` for the apply path, spawned directly (no shell). Each input line is one
// batch, so one transaction. It is kept because it is measured to be several times faster than a
// one-shot `nft -f -`: that pays an exec and, when the batch deleted anything, waits at exit for
// an RCU grace period (the kernel flushes its destroy work when the netlink socket closes).
//
// How a reply ends: each transaction line is followed by a marker line that nft refuses at parse
// time (touching nothing). nft writes every error to stderr, in input order, so the marker's own
// refusal there closes the reply to the line before it: only stderr is read, and no ordering
// between two pipes is assumed.

import { spawn, type ChildProcess } from 'node:child_process';
import { LineSplitter } from '../io/lines.js';
import { serialQueue } from '../util/serial.js';

/** Not nft syntax: nft echoes it back as the offending line, on a line of its own. */
const MARKER = 'ha-agent-end-of-reply';

/** nft echoes a refused line whole; a per-farm transaction of a very large farm is a few MB. */
const MAX_REPLY_LINE = 64 * 1024 * 1024;

export interface NftSessionOptions {
  /** How to start nft, e.g. ['nft'] or ['ip', 'netns', 'exec', 'ns1', 'nft']; `-i` is appended. */
  readonly argv: readonly string[];
  readonly timeoutMs: number;
  /** Lines before the process is replaced: nft keeps every line in its (in-memory) history. */
  readonly maxLines?: number;
  /** Told the process's pid at spawn, released at its exit: its transactions are the agent's own. */
  readonly onSpawn?: (pid: number) => () => void;
}

export class NftSession {
  private child: ChildProcess | undefined;
  /** The lines nft prints before echoing the marker, learnt when the process starts. */
  private markerReply: readonly string[] | undefined;
  private splitter = new LineSplitter(MAX_REPLY_LINE);
  /** stderr lines since the last reply ended. */
  private reply: string[] = [];
  /** The marker was echoed: the next line (nft's pointer under it) ends the reply. */
  private markerSeen = false;
  private pending: { resolve: (out: string) => void; reject: (err: Error) => void } | undefined;
  private lines = 0;
  /** One transaction at a time: replies are matched to requests by order. */
  private readonly queue = serialQueue();

  constructor(private readonly options: NftSessionOptions) {}

  /**
   * Runs one transaction; resolves with what nft printed for it (empty: committed; else it was
   * refused as a whole). Rejects when the process failed: whether it committed is then unknown.
   */
  run(text: string): Promise<string> {
    const line = text.split('\n').filter((l) => l.trim() && !l.startsWith('#')).join('; ');
    return this.queue.run(() => this.send(line));
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
    return this.request(`${line}\n${MARKER}\n`);
  }

  private async start(): Promise<void> {
    const [command, ...args] = this.options.argv;
    if (command === undefined) throw new Error('nft -i: no command to start');
    const child = spawn(command, [...args, '-i'], {
      // Nothing the agent sends prints to stdout (no --echo); errors and the marker go to stderr.
      stdio: ['pipe', 'ignore', 'pipe'],
      // No history file: nft -i would write every transaction to ~/.nft.history at exit.
      env: { ...process.env, HOME: '/nonexistent' },
    });
    this.child = child;
    // Marked before it reads a line, so it cannot commit before it is known as own.
    const release = child.pid === undefined ? undefined : this.options.onSpawn?.(child.pid);
    if (release) child.once('exit', release);
    this.splitter = new LineSplitter(MAX_REPLY_LINE);
    this.reply = [];
    this.markerSeen = false;
    this.markerReply = undefined;
    this.lines = 0;
    child.stderr!.on('data', (chunk: Buffer) => {
      // What a replaced (killed, timed out) child still had in its pipe is not the new child's
      // reply: taken as one, every later reply would be matched to the wrong transaction.
      if (this.child !== child) return;
      const dropped = this.splitter.overlongLines;
      const received = this.splitter.push(chunk);
      // A line too long to keep still means nft said something: the transaction reads as refused.
      if (this.splitter.overlongLines > dropped) this.reply.push(`(an nft output line over ${MAX_REPLY_LINE} bytes)`);
      for (const line of received) this.onLine(line);
    });
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.pending?.reject(new Error(`nft -i ${why}`));
      this.pending = undefined;
    };
    child.on('error', (err) => gone(`could not run: ${err.message}`));
    child.on('exit', (code, signal) => gone(`exited (${signal ?? code}): ${this.reply.join(' | ').slice(0, 500)}`));
    child.stdin!.on('error', () => undefined);
    // An idle session must not keep the agent (or a test) from exiting.
    child.unref();
    for (const s of [child.stdin, child.stderr] as unknown as { unref?: () => void }[]) s.unref?.();
    try {
      await this.request(`${MARKER}\n`);
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
    });
  }

  private onLine(line: string): void {
    if (!this.markerSeen) {
      if (line === MARKER) this.markerSeen = true;
      else this.reply.push(line);
      return;
    }
    // The line under the echoed marker, pointing at it: the marker's reply, so this one, is over.
    this.markerSeen = false;
    const reply = this.reply;
    this.reply = [];
    const pending = this.pending;
    this.pending = undefined;
    if (!pending) return;
    if (this.markerReply === undefined) {
      // The first reply is to the marker alone: what nft prints before echoing it.
      if (!reply.some((l) => /error/i.test(l))) return pending.reject(new Error(`nft -i: unexpected reply to "${MARKER}": ${reply.join(' | ')}`));
      this.markerReply = reply;
      return pending.resolve('');
    }
    const own = reply.length - this.markerReply.length;
    if (own < 0 || this.markerReply.some((l, i) => reply[own + i] !== l)) {
      // Not the reply learnt at start: the framing can no longer be trusted.
      pending.reject(new Error(`nft -i: unexpected reply to "${MARKER}": ${reply.join(' | ').slice(0, 500)}`));
      this.close();
      return;
    }
    pending.resolve(reply.slice(0, own).map((l) => `${l}\n`).join(''));
  }
}
