// Entry point of the real-kernel test harness: build a namespace topology, use it, always tear it down.
import { Lab } from './lab.js';
import type { TopologySpec } from './spec.js';

export { Lab, type ExecOptions, type ExecResult } from './lab.js';
export type { NsProcess, ExitInfo } from './process.js';
export { parseTopology, SWITCH_HOST, type TopologySpec, type HostSpec, type LinkSpec, type RouteSpec } from './spec.js';
export * from './builders.js';
export { cleanupStale, listNetns, HARNESS_PREFIX_PATTERN } from './teardown.js';
export { fixturePath, parseJsonLine, type FixtureName } from './fixtures.js';
export { waitFor, withTimeout, sleep, type PollOptions } from './poll.js';

/** Builds a lab; the caller must `await lab.destroy()` (exit/signal hooks are the safety net). */
export function createLab(spec: TopologySpec, opts: { prefix?: string } = {}): Promise<Lab> {
  return Lab.create(spec, opts);
}

/** Builds a lab, runs `fn`, and destroys the lab whether `fn` resolves or throws. */
export async function withLab<T>(spec: TopologySpec, fn: (lab: Lab) => Promise<T>, opts: { prefix?: string } = {}): Promise<T> {
  const lab = await Lab.create(spec, opts);
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}
