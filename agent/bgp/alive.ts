// Keeps the liveness prefix (agent/render/bird.ts) on lo with a short kernel lifetime while the
// event loop runs. BIRD resolves every announced VIP through it: a dead or hung agent stops
// refreshing, the kernel deletes the prefix, and BIRD withdraws the VIPs by itself.
//
// Why the kernel's clock: BIRD's filters cannot read time and BIRD runs no scripts; a watchdog
// process would be one more thing to keep alive. An address lifetime (valid_lft, whole seconds)
// is kept by the kernel whatever state the agent is in, SIGSTOP included.

import type { Runner } from '../apply/runner.js';
import { ALIVE_INTERFACE, ALIVE_PREFIX } from '../render/bird.js';
import type { Logger } from '../log.js';
import type { IpFamily } from '../../config/net.js';

/** The kernel's shortest address lifetime. */
export const ALIVE_LIFETIME_S = 1;
/** Refreshed four times per lifetime, so one slow `ip` run does not let it lapse. */
export const ALIVE_EVERY_MS = 250;

export interface Alive {
  /** Refresh now (the first announcement must not wait for the timer). */
  refresh(): Promise<boolean>;
  /** Stops refreshing. `withdraw` deletes the prefix now (every VIP withdrawn at once); `keep`
   * makes it permanent, for a stop that leaves the announcements to the next agent. */
  stop(how: 'withdraw' | 'keep'): Promise<void>;
}

const batch = (families: readonly IpFamily[], lifetime: string): string => families
  .map((family) => `address replace ${ALIVE_PREFIX[family]} dev ${ALIVE_INTERFACE} valid_lft ${lifetime} preferred_lft ${lifetime}`)
  .join('\n');

/** `families`: those with VIPs (an IPv6 line would fail where lo has no IPv6). */
export function startAlive(runner: Runner, logger: Logger, families: readonly IpFamily[], everyMs = ALIVE_EVERY_MS): Alive {
  let failing = false;
  const refresh = async (): Promise<boolean> => {
    const r = await runner.run('ip', ['-batch', '-'], { input: `${batch(families, String(ALIVE_LIFETIME_S))}\n`, timeoutMs: 2000 });
    const ok = r.exitCode === 0 && !r.timedOut;
    // Logged on change only: a refresh four times a second must not flood the journal.
    if (!ok && !failing) logger.error({ stderr: r.stderr.trim(), spawnError: r.spawnError }, 'cannot refresh the BGP liveness prefix; the VIPs will be withdrawn');
    if (ok && failing) logger.info('BGP liveness prefix refreshed again');
    failing = !ok;
    return ok;
  };
  // Driven by the main event loop on purpose: a blocked loop is exactly what must be noticed.
  const timer = setInterval(() => void refresh(), everyMs);
  return {
    refresh,
    stop: async (how) => {
      clearInterval(timer);
      const input = how === 'keep' ? `${batch(families, 'forever')}\n`
        : `${families.map((f) => `address del ${ALIVE_PREFIX[f]} dev ${ALIVE_INTERFACE}`).join('\n')}\n`;
      // -force: one family already gone must not keep the other.
      await runner.run('ip', ['-force', '-batch', '-'], { input, timeoutMs: 2000 });
    },
  };
}
