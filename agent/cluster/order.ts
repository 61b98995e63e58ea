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

/**
 * The revision Redis hands out (mirrors the NEXT_REVISION part of the scripts): above its counter
 * and the writer's floor, at least the writer's clock. A counter that is not a sane number
 * (hostile or broken content) counts as zero.
 */
export function nextRevision(counter: number, floor: number, now: number): number {
  const sane = Number.isFinite(counter) && counter >= 0 && counter <= MAX_REVISION ? counter : 0;
  return Math.max(sane + 1, floor + 1, Math.floor(now));
}

/** Above this a stored counter is treated as garbage (about year 128,000 in milliseconds). */
export const MAX_REVISION = 4e15;
