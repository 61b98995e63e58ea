// The processes the agent itself writes the ruleset through, recognised by the writer pid that
// the kernel puts on each transaction's generation line. Pure: time is passed in.
//
// Why the pid and not the generation number: nft -f, nft -i and iptables-restore never tell
// their writer which generation they committed (and iptables-restore commits one per table), so
// the applier could only guess it from the order of events. The pid is known the moment the
// child is spawned, before it can commit anything, so marking it then leaves no window in which
// its generation line could be read first. A released pid stays own for a grace period: the
// kernel queues the event before the writer exits, but the monitor child may print it after
// Node has seen that exit.

/** How long an exited writer's pid still counts as own. */
const DEFAULT_GRACE_MS = 5_000;

export class OwnWriters {
  /** pid -> how many live marks it holds. */
  private readonly live = new Map<number, number>();
  /** pid -> until when it still counts, once released. */
  private readonly released = new Map<number, number>();

  constructor(private readonly graceMs = DEFAULT_GRACE_MS) {}

  mark(pid: number): void {
    this.released.delete(pid);
    this.live.set(pid, (this.live.get(pid) ?? 0) + 1);
  }

  /** The writer exited (or will write no more): own until `now + graceMs`. */
  release(pid: number, now: number): void {
    const count = this.live.get(pid);
    if (count === undefined) return;
    if (count > 1) return void this.live.set(pid, count - 1);
    this.live.delete(pid);
    this.released.set(pid, now + this.graceMs);
  }

  has(pid: number, now: number): boolean {
    if (this.live.has(pid)) return true;
    const until = this.released.get(pid);
    if (until === undefined) return false;
    if (now <= until) return true;
    this.released.delete(pid);
    return false;
  }

  /** Drops released pids past their grace, so a long-running agent keeps no history. */
  prune(now: number): void {
    for (const [pid, until] of this.released) if (now > until) this.released.delete(pid);
  }

  get size(): number {
    return this.live.size + this.released.size;
  }
}
