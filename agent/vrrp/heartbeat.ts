// Keeps the liveness deadline (the heartbeat file's mtime) ahead of now while the event loop runs.
// A dead or hung agent stops pushing it, and keepalived's track script fails once it passes.

import { open, utimes } from 'node:fs/promises';
import { HEARTBEAT_EVERY_MS, HEARTBEAT_GRACE_MS } from './liveness.js';

export interface Heartbeat {
  /** Sets the deadline in the past, so keepalived gives up MASTER at its next check. */
  stop(): Promise<void>;
}

async function setDeadline(path: string, at: number): Promise<void> {
  const when = new Date(at);
  await utimes(path, when, when);
}

/** Writes the first deadline before returning, so keepalived started next sees a live agent. */
export async function startHeartbeat(path: string, opts: { everyMs?: number; graceMs?: number } = {}): Promise<Heartbeat> {
  const every = opts.everyMs ?? HEARTBEAT_EVERY_MS;
  const grace = opts.graceMs ?? HEARTBEAT_GRACE_MS;
  await (await open(path, 'a', 0o644)).close();
  await setDeadline(path, Date.now() + grace);
  // Driven by the main event loop on purpose: a blocked loop is exactly what must be noticed.
  const timer = setInterval(() => void setDeadline(path, Date.now() + grace).catch(() => undefined), every);
  return {
    stop: async () => {
      clearInterval(timer);
      await setDeadline(path, 0).catch(() => undefined);
    },
  };
}
