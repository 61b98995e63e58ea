// Runs one async task on request, coalescing bursts: notes arrive by the dozen, and each only
// says "look again", so one read in flight plus one queued behind it answers them all.

export class Coalesced {
  /** The run in flight, and the one queued behind it (shared by every request made meanwhile). */
  private current: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly run: () => Promise<void>) {}

  /**
   * Resolves (or rejects) with a run that began after this call, so the caller sees state at
   * least as new as its request. Never two runs at once, at most one more queued.
   */
  request(): Promise<void> {
    if (this.next) return this.next;
    if (!this.current) return this.start();
    // Queued behind the run in flight whatever its outcome: a failed run does not cancel the next.
    this.next = this.current.catch(() => undefined).then(() => {
      this.next = undefined;
      return this.start();
    });
    return this.next;
  }

  /** Resolves once every run requested so far is over, failed or not; starts none. */
  settled(): Promise<void> {
    return (this.next ?? this.current ?? Promise.resolve()).catch(() => undefined);
  }

  private start(): Promise<void> {
    // Cleared before the run's promise settles, so a request from then on starts a new run.
    this.current = this.run().finally(() => (this.current = undefined));
    return this.current;
  }
}
