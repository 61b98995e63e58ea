// The processes the agent itself writes the ruleset through, recognised by the writer pid that
// the kernel puts on each transaction's generation line. Pure: time is passed in.
//
// Why the pid and not the generation number: nft -f, nft -i and iptables-restore never tell
// their writer which generation they committed (and iptables-restore commits one per table), so
// the applier could only guess it from the order of events. The pid is known the moment the
// child is spawned, before it can commit anything, so marking it then leaves no window in which
// its generation line could be read first.
//
// How long a released pid stays own: the kernel queues a writer's events before the writer
// exits, so they are all read once the monitor has caught up with its event source after the
// release; until then the pid is own, however long reading the backlog takes (a full apply at
// 10k backends is 30k events, read in slices between the checks, which took over 10 s on a busy
// machine: its generation line, read late, was taken for a foreign change). A grace period on
// top covers a source whose catching up cannot be seen exactly (the nft monitor child's pipe).
// Past the catch-up and the grace, the pid may belong to another process.

/** How long an exited writer's pid still counts as own, caught up or not. */
const DEFAULT_GRACE_MS = 5_000;
/** The longest a released pid waits for the monitor to catch up, so a monitor that never does
 * (a flood of foreign changes) does not keep pids own for good. */
const DEFAULT_MAX_BEHIND_MS = 120_000;

export class OwnWriters {
  /** pid -> how many live marks it holds. */
  private readonly live = new Map<number, number>();
  /** pid -> when it was released. */
  private readonly released = new Map<number, number>();
  /** The start of the latest check that found the monitor caught up (nothing left unread). */
  private caughtUpFrom = -Infinity;

  constructor(private readonly graceMs = DEFAULT_GRACE_MS, private readonly maxBehindMs = DEFAULT_MAX_BEHIND_MS) {}

  mark(pid: number): void {
    this.released.delete(pid);
    this.live.set(pid, (this.live.get(pid) ?? 0) + 1);
  }

  /** The writer exited (or will write no more). */
  release(pid: number, now: number): void {
    const count = this.live.get(pid);
    if (count === undefined) return;
    if (count > 1) return void this.live.set(pid, count - 1);
    this.live.delete(pid);
    this.released.set(pid, now);
  }

  /**
   * The monitor had read everything its source held at `since` (a check that began then found
   * nothing more): every transaction of a writer released before `since` has been seen.
   */
  caughtUp(since: number): void {
    this.caughtUpFrom = Math.max(this.caughtUpFrom, since);
  }

  has(pid: number, now: number): boolean {
    if (this.live.has(pid)) return true;
    const at = this.released.get(pid);
    if (at === undefined) return false;
    if (this.stillOwn(at, now)) return true;
    this.released.delete(pid);
    return false;
  }

  /** Drops released pids no longer own, so a long-running agent keeps no history. */
  prune(now: number): void {
    for (const [pid, at] of this.released) if (!this.stillOwn(at, now)) this.released.delete(pid);
  }

  get size(): number {
    return this.live.size + this.released.size;
  }

  private stillOwn(releasedAt: number, now: number): boolean {
    if (now <= releasedAt + this.graceMs) return true;
    return this.caughtUpFrom < releasedAt && now <= releasedAt + this.maxBehindMs;
  }
}
