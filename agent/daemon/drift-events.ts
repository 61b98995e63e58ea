// The nf_tables monitor as the daemon runs it: created before the netfilter driver, so every
// ruleset writer the driver spawns is marked as the agent's own from the first apply, and started
// before that apply; what it reports goes to the drift watch once there is one.

import { agentScope } from '../apply/nft-concern.js';
import { NftMonitor, type Drift } from '../apply/nft-monitor.js';
import { nativeNftEvents } from '../apply/nft-native.js';
import type { Driver } from '../apply/netfilter.js';
import type { Runner } from '../apply/runner.js';
import type { Logger } from '../log.js';

export interface DriftEvents {
  /** For the drivers' runner options: the pid of a ruleset writer, at its spawn. */
  markOwn(pid: number): () => void;
  /** Subscribes; on failure the sweep alone finds drift (logged, not thrown). */
  start(): Promise<void>;
  /** From now on reports go to `onDrift` (those that came earlier are handed over first). */
  deliverTo(onDrift: (drift: Drift) => void): void;
  stop(): Promise<void>;
}

/**
 * HA_AGENT_NFT_EVENTS=monitor follows changes through an `nft monitor` child even when the native
 * listener is built (for comparing the two; the native one is the default, see nft-monitor.ts).
 */
export function createDriftEvents(driver: Driver, runner: Runner, logger: Logger, env: NodeJS.ProcessEnv = process.env): DriftEvents {
  const early: Drift[] = [];
  let target: ((drift: Drift) => void) | undefined;
  const native = env.HA_AGENT_NFT_EVENTS === 'monitor' ? { error: 'HA_AGENT_NFT_EVENTS=monitor' } : nativeNftEvents();
  const monitor = new NftMonitor({
    scope: agentScope(driver),
    ...(native.source ? { native: native.source } : {}),
    runner,
    onDrift: (drift) => (target ? target(drift) : early.push(drift)),
    log: (message) => logger.warn(message),
  });
  return {
    markOwn: (pid) => monitor.markOwn(pid),
    start: async () => {
      if (native.error) logger.info(`nf_tables events through nft monitor: ${native.error}`);
      try {
        await monitor.start();
        logger.info({ source: monitor.source }, 'following ruleset changes as the kernel reports them');
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'cannot follow ruleset changes; drift is found by the verify schedule alone until the monitor starts');
      }
    },
    deliverTo: (onDrift) => {
      target = onDrift;
      for (const drift of early.splice(0)) onDrift(drift);
    },
    stop: () => monitor.stop(),
  };
}
