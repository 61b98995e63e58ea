// conntrackd alongside keepalived: runs it (spawn mode) or writes its config (systemd mode), and
// on every VRRP transition drives it as keepalived's primary-backup.sh does, so established
// connections survive a failover.

import type { Config, ConntrackdConfig } from '../../config/schema.js';
import type { Logger } from '../log.js';
import { describeFailure, type Runner } from '../apply/runner.js';
import { writeFileAtomic } from '../state/atomic-write.js';
import { renderConntrackd } from '../render/conntrackd.js';
import { writeIfChanged } from './keepalived.js';
import { vrrpPaths } from './paths.js';
import type { VrrpState, VrrpView } from './state.js';
import { Supervisor, type SpawnFn } from './supervisor.js';
import { rm } from 'node:fs/promises';

export interface ConntrackdDeps {
  readonly runner: Runner;
  readonly logger: Logger;
  readonly view: VrrpView;
  readonly spawn?: SpawnFn;
}

export interface ConntrackdService {
  reconfigure(config: Config): Promise<void>;
  stop(): Promise<void>;
  /** Resolves when the commands for the transitions seen so far have run (tests, benchmarks). */
  idle(): Promise<void>;
}

/**
 * The conntrackd requests for a transition (primary-backup.sh): a new MASTER commits the external
 * cache into the kernel (-c), flushes both caches (-f), refills the internal one from the kernel
 * (-R) and sends it all to the peer (-B). A BACKUP asks the master for a full resync (-n); a node
 * that was MASTER also schedules the purge of its now stale kernel entries (-t).
 */
export function syncActions(from: VrrpState, to: VrrpState): string[] {
  switch (to) {
    case 'MASTER':
      return ['-c', '-f', '-R', '-B'];
    case 'BACKUP':
      return from === 'MASTER' ? ['-t', '-n'] : ['-n'];
    case 'FAULT':
      return from === 'MASTER' ? ['-t'] : [];
    case 'STOP':
    case 'UNKNOWN':
    case 'DISABLED':
      return [];
    default: {
      const never: never = to;
      throw new Error(`unknown VRRP state ${String(never)}`);
    }
  }
}

type Configured = Config & { readonly conntrackd: ConntrackdConfig };

export async function startConntrackd(config: Configured, deps: ConntrackdDeps): Promise<ConntrackdService> {
  const { runner, logger, view } = deps;
  const c = config.conntrackd;
  const paths = vrrpPaths(config);
  const conf = paths.conntrackdConf;
  const text = renderConntrackd(config, paths);
  const ctl = (flag: string) => runner.run(c.binary, ['-C', conf, flag], { timeoutMs: 10_000 });

  let supervisor: Supervisor | undefined;
  switch (c.mode) {
    case 'spawn':
      await writeFileAtomic(conf, text, 0o644);
      supervisor = new Supervisor({
        name: 'conntrackd',
        command: c.binary,
        args: ['-C', conf],
        logger,
        ...(deps.spawn ? { spawn: deps.spawn } : {}),
        // conntrackd refuses to start while its lock file exists; a killed one leaves it behind.
        beforeStart: async () => {
          if ((await ctl('-s')).exitCode !== 0) await rm(paths.conntrackdLock, { force: true });
        },
      });
      supervisor.start();
      break;
    case 'systemd':
      // conntrackd has no reload: a changed config needs a restart.
      if (await writeIfChanged(conf, text)) await restartUnit(runner, logger);
      break;
    case 'external':
      break;
    default: {
      const never: never = c.mode;
      throw new Error(`unknown conntrackd mode ${String(never)}`);
    }
  }

  let queue: Promise<void> = Promise.resolve();
  const unsubscribe = view.on((to, from) => {
    const actions = syncActions(from, to);
    if (actions.length === 0) return;
    queue = queue.then(async () => {
      const started = performance.now();
      for (const flag of actions) {
        const result = await ctl(flag);
        if (result.exitCode !== 0) logger.error({ err: describeFailure(result), flag }, `conntrackd ${flag} failed`);
      }
      logger.info({ vrrp: to, actions, ms: Math.round(performance.now() - started) }, `conntrack sync: ${to === 'MASTER' ? 'committed the peer\'s connections' : 'resync requested'}`);
    });
  });

  return {
    idle: () => queue,
    reconfigure: async (next) => {
      if (!next.conntrackd || next.conntrackd.mode !== c.mode) {
        logger.warn('adding, removing or changing the mode of the conntrackd section takes effect after a restart');
        return;
      }
      const nextText = renderConntrackd({ ...next, conntrackd: next.conntrackd }, paths);
      if (c.mode === 'external' || !(await writeIfChanged(conf, nextText))) return;
      if (c.mode === 'systemd') await restartUnit(runner, logger);
      else {
        // conntrackd has no reload; a restart loses only the cache the peer resends (-n on BACKUP).
        await supervisor?.stop();
        supervisor?.start();
      }
    },
    stop: async () => {
      unsubscribe();
      await queue;
      await supervisor?.stop();
    },
  };
}

async function restartUnit(runner: Runner, logger: Logger): Promise<void> {
  const result = await runner.run('systemctl', ['restart', 'conntrackd'], { timeoutMs: 30_000 });
  if (result.exitCode !== 0) logger.error({ err: describeFailure(result) }, 'systemctl restart conntrackd failed');
}
