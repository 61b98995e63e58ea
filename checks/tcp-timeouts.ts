// The timeouts of tcp checks in flight: one timer for all of them, and O(1) to add or drop one,
// so thousands of checks a second arm no timer each.

/** What the timeouts keep of a check; the links are theirs alone. */
export interface Timed {
  readonly timeoutMs: number;
  /** On performance.now()'s clock. */
  readonly deadline: number;
  prev: Timed | undefined;
  next: Timed | undefined;
  list: TimeoutList | undefined;
}

/** Checks with the same timeout expire in the order they started: a FIFO. */
interface TimeoutList {
  head: Timed | undefined;
  tail: Timed | undefined;
}

export class Timeouts<T extends Timed> {
  private readonly lists = new Map<number, TimeoutList>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  /** `expired` must drop the check it is given (`drop`), or it would be given again. */
  constructor(private readonly expired: (check: T) => void) {}

  add(check: T): void {
    let list = this.lists.get(check.timeoutMs);
    if (list === undefined) {
      list = { head: undefined, tail: undefined };
      this.lists.set(check.timeoutMs, list);
    }
    check.list = list;
    check.prev = list.tail;
    if (list.tail) list.tail.next = check;
    else list.head = check;
    list.tail = check;
    if (check.deadline < this.timerAt) this.arm(check.deadline);
  }

  drop(check: T): void {
    const list = check.list;
    if (list === undefined) return;
    if (check.prev) check.prev.next = check.next;
    else list.head = check.next;
    if (check.next) check.next.prev = check.prev;
    else list.tail = check.prev;
    check.prev = check.next = check.list = undefined;
  }

  /** Set for the oldest deadline; it moves on lazily when that check completes first. */
  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(0, Math.ceil(at - performance.now())));
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    // Timers fire on the loop's millisecond clock; a deadline within 1 ms counts as reached.
    const now = performance.now() + 1;
    let next = Infinity;
    for (const list of this.lists.values()) {
      // Each pass drops the head: bounded by the checks in flight.
      while (list.head !== undefined && list.head.deadline <= now) {
        const head = list.head;
        this.expired(head as T);
        if (list.head === head) this.drop(head as T);
      }
      if (list.head !== undefined && list.head.deadline < next) next = list.head.deadline;
    }
    if (next !== Infinity) this.arm(next);
  };
}
