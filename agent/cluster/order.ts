// Which of two cluster writes is the later one. Revisions are hybrid logical clocks: a new
// revision is above every revision the writer has seen and above the counter Redis holds, and is
// at least the wall clock in milliseconds. So revisions never go backwards when Redis loses its
// data (a restart without persistence, a replica promoted before it caught up, FLUSHALL,
// eviction): an action taken after the loss outranks every action taken before it, on every node,
// as long as the nodes' clocks are roughly right (NTP), and the Redis counter orders writes exactly
// within one epoch. Equal revisions (two --local actions in the same millisecond) fall to the node
// id, so every node picks the same winner. The Lua scripts in store-scripts.ts implement the same
// order; keep them in step.

export interface Stamp {
  readonly rev: number;
  readonly node: string;
}

/** Whether `a` is later than `b` (absent counts as earliest). */
export function isNewer(a: Stamp, b: Stamp | undefined): boolean {
  if (b === undefined) return true;
  if (a.rev !== b.rev) return a.rev > b.rev;
  return a.node > b.node;
}

/** The revision of a write made without Redis (a --local action): above what was seen, at least now. */
export function localRevision(floor: number, now: number): number {
  return Math.max(floor + 1, Math.floor(now));
}

/** Above this a revision is garbage (about year 128,000 in milliseconds). */
export const MAX_REVISION = 4e15;

/**
 * A revision further ahead of this node's clock is garbage too: revisions run ahead of the clocks
 * only by the actions taken within one millisecond, or by a clock that is that far off. Without
 * the bound, one hostile or broken value would lift every node's floor beyond MAX_REVISION for
 * good (the floor is journaled), and every later action would be refused.
 */
export const MAX_AHEAD_MS = 24 * 3600_000;

/** Whether a revision read from Redis or a journal can be taken at all (the scripts agree). */
export function plausibleRevision(rev: number, now: number): boolean {
  return Number.isInteger(rev) && rev >= 1 && rev <= MAX_REVISION && rev <= now + MAX_AHEAD_MS;
}

/**
 * The revision Redis hands out (mirrors next_rev in store-scripts.ts): above its counter, the
 * writer's floor and the revision stored where it writes, at least the writer's clock. A counter
 * or stored revision that is not plausible counts as absent.
 */
export function nextRevision(counter: number, floor: number, now: number, stored?: number): number {
  const base = plausibleRevision(counter, now) ? counter : 0;
  const over = stored !== undefined && plausibleRevision(stored, now) ? stored + 1 : 0;
  return Math.max(base + 1, floor + 1, Math.floor(now), over);
}
