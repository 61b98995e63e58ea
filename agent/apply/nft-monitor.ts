// Follows ruleset changes as the kernel reports them and tells the listener about each foreign
// transaction that touched the agent's objects: drift is seen as it happens, without reading the
// ruleset back on a schedule. The changes come from the native listener (nft-native.ts) when it
// is built, else from one long-lived `nft -a monitor` child; both print the same lines.
//
// Why the native listener first: no well-kept Node library speaks nf_tables netlink (the
// `netlink` package is early-stage, unmaintained, and has no nf_tables messages), and nft 1.0.6,
// measured at 10k backends in 100 farms, loads the whole ruleset into its cache before it
// subscribes (iptables driver: 10 s, 93 MB RSS; nftables driver: 5 s, 141 MB) and crashes
// (SIGSEGV, "Memory allocation failure") on the interval map elements the agent's own applies
// add: each crash is a restart and a `lost` report. Why node:child_process rather than execa for
// the child: it never ends by design and its output is read as a stream, not collected.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { LineSplitter } from '../io/lines.js';
import { DriftFilter, type DriftScope } from './nft-concern.js';
import { LOST_EVENTS_LINE, NftEventParser, type NftEvent, type NftTransaction } from './nft-events.js';
import type { NftEventListener, NftEventSource } from './nft-native.js';
import { OwnWriters } from './nft-own.js';
import { ExecaRunner, type Runner } from './runner.js';

export interface Drift {
  /** `change`: a transaction touched the agent; `lost`: changes may have been missed (monitor
   * restarted, socket overflow, a skipped generation): verify everything. */
  readonly cause: 'change' | 'lost';
  readonly generation?: number;
  readonly pid?: number;
  readonly process?: string;
  readonly events: readonly NftEvent[];
  readonly reasons: readonly string[];
}

export interface NftMonitorOptions {
  readonly scope: DriftScope;
  readonly onDrift: (drift: Drift) => void;
  /** The native listener (it hears this process's network namespace); absent: an nft child. */
  readonly native?: NftEventSource;
  /** How to start nft, e.g. ['nft'] or ['ip', 'netns', 'exec', 'ns1', 'nft'] (which execs nft in
   * place, keeping the pid the readiness check looks at); `-a monitor` is appended. */
  readonly argv?: readonly string[];
  /** Writers to ignore besides those marked with markOwn. */
  readonly isOwn?: (pid: number, process: string | undefined) => boolean;
  /** Runs the one-shot listings of the hook chains (iptables scope), at each (re)start. */
  readonly runner?: Runner;
  /** Longest output line kept (interval map elements print as lines of hundreds of KB). */
  readonly maxLineBytes?: number;
  readonly restartDelayMs?: { readonly initial: number; readonly max: number };
  readonly readyTimeoutMs?: number;
  readonly log?: (message: string) => void;
  readonly now?: () => number;
}

export interface NftMonitorStats {
  readonly transactions: number;
  readonly own: number;
  readonly reported: number;
  readonly restarts: number;
}

/** nfnetlink's NFNLGRP_NFTABLES, as a bit of the Groups column of /proc/PID/net/netlink. */
const NFTABLES_GROUP_BIT = 1 << (7 - 1);
const NETLINK_NETFILTER = 12;

export class NftMonitor {
  private child: ChildProcess | undefined;
  private listener: NftEventListener | undefined;
  private readonly own: OwnWriters;
  private readonly filter: DriftFilter;
  private parser = new NftEventParser();
  private lastGeneration: number | undefined;
  private stopped = true;
  private starts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelay: number;
  private counts = { transactions: 0, own: 0, reported: 0, restarts: 0 };
  /** Output received from the source so far (native deliveries, child stdout chunks). */
  private deliveries = 0;
  private quietCheck = false;
  private quietAgain = false;
  private readonly now: () => number;
  /** The native source until it fails to open; then the nft child. */
  private native: NftEventSource | undefined;

  constructor(private readonly options: NftMonitorOptions) {
    this.native = options.native;
    this.own = new OwnWriters();
    this.filter = new DriftFilter(options.scope);
    this.now = options.now ?? (() => performance.now());
    this.restartDelay = options.restartDelayMs?.initial ?? 100;
  }

  /**
   * Starts the child; resolves once it is subscribed, so no later change goes unseen. Rejects
   * when the first child does not come up; it is tried again, with backoff, until stop().
   */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    await this.launch();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.listener?.close();
    this.listener = undefined;
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  }

  /**
   * The agent spawned `pid` to write the ruleset: call at spawn, before it can commit, and call
   * the returned function when it exits. Its transactions are never reported.
   */
  markOwn(pid: number): () => void {
    this.own.mark(pid);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.own.release(pid, this.now());
      this.checkQuiet();
    };
  }

  get stats(): NftMonitorStats {
    return { ...this.counts };
  }

  /** The monitor child's pid while it runs (for measuring it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Where the changes come from. */
  get source(): 'native' | 'nft monitor' {
    return this.native ? 'native' : 'nft monitor';
  }

  private async launch(): Promise<void> {
    if (this.native) {
      this.parser = new NftEventParser();
      this.lastGeneration = undefined;
      try {
        // Subscribed when open returns: no readiness to wait for, and no process to restart.
        this.listener = this.native.open((text) => this.onNativeLines(text));
      } catch (err) {
        this.options.log?.(`${(err as Error).message}; following changes through nft monitor instead`);
        this.native = undefined;
      }
      if (this.listener) return this.seed();
    }
    const [command, ...args] = this.options.argv ?? ['nft'];
    const child = spawn(command!, [...args, '-a', 'monitor'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.parser = new NftEventParser();
    this.lastGeneration = undefined;
    const restarted = this.starts++ > 0;
    const maxLine = this.options.maxLineBytes ?? 1024 * 1024;
    const out = new LineSplitter(maxLine);
    child.stdout!.on('data', (chunk: Buffer) => this.onOutput(out, chunk));
    const err = new LineSplitter(64 * 1024);
    child.stderr!.on('data', (chunk: Buffer) => {
      for (const line of err.push(chunk)) {
        if (line.startsWith(LOST_EVENTS_LINE)) this.report({ cause: 'lost', events: [], reasons: ['nft monitor lost netlink events'] });
        else this.options.log?.(`nft monitor: ${line}`);
      }
    });
    const exited = new Promise<string>((resolve) => {
      child.once('error', (e) => resolve(`could not run: ${e.message}`));
      child.once('exit', (code, signal) => resolve(`exited (${signal ?? code})`));
    });
    void exited.then((why) => this.onExit(child, why));
    const ready = await Promise.race([this.subscribed(child), exited.then((why) => { throw new Error(`nft monitor ${why}`); })]);
    if (!ready) {
      child.kill('SIGKILL');
      throw new Error(`nft monitor did not subscribe within ${this.options.readyTimeoutMs ?? 5000} ms`);
    }
    await this.seed();
    if (restarted) this.report({ cause: 'lost', events: [], reasons: ['nft monitor restarted: changes while it was down are unknown'] });
  }

  private onOutput(out: LineSplitter, chunk: Buffer): void {
    this.delivered();
    const dropped = out.overlongLines;
    const lines = out.push(chunk);
    const skipped = out.overlongLines - dropped;
    // Where in the chunk a dropped line was is unknown: it counts against the transactions on
    // both sides of it, since a false alarm costs a verify and a miss costs drift left in place.
    for (let i = 0; i < skipped; i++) this.parser.skipped();
    let closed = false;
    for (const line of lines) {
      const parsed = this.parser.push(line);
      if (parsed?.type === 'transaction') {
        closed = true;
        this.onTransaction(parsed.transaction);
      } else if (parsed?.type === 'lost') {
        this.report({ cause: 'lost', events: [], reasons: ['nft monitor lost netlink events'] });
      }
    }
    if (closed) for (let i = 0; i < skipped; i++) this.parser.skipped();
  }

  private onNativeLines(text: string): void {
    this.delivered();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const parsed = this.parser.push(line);
      if (parsed?.type === 'transaction') this.onTransaction({ ...parsed.transaction, complete: true });
      else if (parsed?.type === 'lost') {
        // The next generation seen tells nothing more: the gap is this loss.
        this.lastGeneration = undefined;
        this.report({ cause: 'lost', events: [], reasons: ['the nf_tables event socket overflowed: changes were lost'] });
      }
    }
  }

  private onTransaction(tx: NftTransaction): void {
    this.counts.transactions++;
    const gap = this.lastGeneration !== undefined && tx.generation !== this.lastGeneration + 1;
    const missed = gap ? `generations ${this.lastGeneration! + 1}..${tx.generation - 1} were not seen` : undefined;
    this.lastGeneration = tx.generation;
    if (missed) this.report({ cause: 'lost', events: [], reasons: [missed] });
    const now = this.now();
    if (tx.pid !== undefined && (this.own.has(tx.pid, now) || this.options.isOwn?.(tx.pid, tx.process))) {
      this.counts.own++;
      if (this.counts.own % 1024 === 0) this.own.prune(now);
      // The filter learns the handles of the jumps the agent inserts into built-in chains; with
      // none (the nft table alone), an own transaction is not worth describing event by event.
      if (this.options.scope.hookChains?.length) this.filter.examine(tx);
      return;
    }
    const concern = this.filter.examine(tx);
    if (!concern) return;
    this.report({ cause: 'change', generation: tx.generation, pid: tx.pid, process: tx.process, events: concern.events, reasons: concern.reasons });
  }

  private delivered(): void {
    this.deliveries++;
    this.checkQuiet();
  }

  /**
   * Tells the own writers when the source has nothing more to read. A delivery comes in the
   * loop's poll phase (the native socket, the child's pipe), and immediates run right after it:
   * when a whole turn of the loop, its poll phase included, delivers nothing, all the source held
   * when the check began has been read (and parsed: lines are handled as they arrive).
   */
  private checkQuiet(): void {
    if (this.stopped) return;
    // One check at a time; one asked for meanwhile (a release) runs after it, beginning later.
    if (this.quietCheck) return void (this.quietAgain = true);
    this.quietCheck = true;
    setImmediate(() => {
      const since = this.now();
      const seen = this.deliveries;
      setImmediate(() => {
        this.quietCheck = false;
        const again = this.quietAgain || this.deliveries !== seen;
        this.quietAgain = false;
        if (this.deliveries === seen) this.own.caughtUp(since);
        if (again) this.checkQuiet();
      }).unref();
    }).unref();
  }

  private report(drift: Drift): void {
    this.counts.reported++;
    try {
      this.options.onDrift(drift);
    } catch (err) {
      this.options.log?.(`nft monitor listener failed: ${(err as Error).message}`);
    }
  }

  private onExit(child: ChildProcess, why: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (this.stopped) return;
    this.options.log?.(`nft monitor ${why}; restarting in ${this.restartDelay} ms`);
    this.counts.restarts++;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(delay * 2, this.options.restartDelayMs?.max ?? 10_000);
    this.restartTimer = setTimeout(() => {
      // A launch that fails ends its child, whose exit brings the next attempt.
      this.launch().then(() => {
        this.restartDelay = this.options.restartDelayMs?.initial ?? 100;
      }, (err: Error) => this.options.log?.(err.message));
    }, delay);
  }

  /**
   * nft prints nothing when it is listening: the child is subscribed once one of its netlink
   * sockets has joined the nf_tables group (read from /proc, which touches no ruleset).
   */
  private async subscribed(child: ChildProcess): Promise<boolean> {
    const deadline = this.now() + (this.options.readyTimeoutMs ?? 5000);
    while (this.now() < deadline) {
      if (child.pid !== undefined && joinedNftables(child.pid)) return true;
      if (child.exitCode !== null || child.signalCode !== null) return false;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return false;
  }

  /** iptables scope: which rules of the built-in chains jump into agent chains, as of now. */
  private async seed(): Promise<void> {
    const { hookChains = [], iptablesFamilies = [] } = this.options.scope;
    const runner = this.options.runner ?? new ExecaRunner();
    const [command, ...args] = this.options.argv ?? ['nft'];
    await Promise.all(iptablesFamilies.flatMap((family) => hookChains.map(async (key) => {
      const [table, chain] = key.split('/') as [string, string];
      const result = await runner.run(command!, [...args, '-a', 'list', 'chain', family, table, chain], { timeoutMs: 10_000 });
      // A missing table or chain holds no jumps; any other failure leaves the chain unknown.
      if (result.exitCode === 0) this.filter.seedHookChain(table, chain, result.stdout, family);
      else if (/No such file or directory/.test(result.stderr)) this.filter.seedHookChain(table, chain, null, family);
    })));
  }
}

/** Whether process `pid` holds a NETLINK_NETFILTER socket subscribed to nf_tables events. */
export function joinedNftables(pid: number): boolean {
  let inodes: Set<string>;
  let table: string;
  try {
    inodes = new Set(readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '';
      } catch {
        return '';
      }
    }));
    table = readFileSync(`/proc/${pid}/net/netlink`, 'utf8');
  } catch {
    return false;
  }
  for (const row of table.split('\n').slice(1)) {
    const [, eth, , groups, , , , , , inode] = row.trim().split(/\s+/);
    if (Number(eth) === NETLINK_NETFILTER && inode && inodes.has(inode) && (parseInt(groups ?? '0', 16) & NFTABLES_GROUP_BIT) !== 0) return true;
  }
  return false;
}
