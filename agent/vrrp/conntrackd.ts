// conntrackd alongside keepalived: runs it (spawn mode) or writes its config (systemd mode), and
// on every VRRP transition drives it as keepalived's primary-backup.sh does, so established
// connections survive a failover.

import { rm } from 'node:fs/promises';
import type { Config, ConntrackdConfig } from '../../config/schema.js';
import { describeFailure } from '../apply/runner.js';
import { writeFileAtomic, writeIfChanged } from '../state/atomic-write.js';
import { renderConntrackd } from '../render/conntrackd.js';
import { serialQueue } from '../util/serial.js';
import { vrrpPaths } from './paths.js';
import type { VrrpState } from './state.js';
import { Supervisor } from './supervisor.js';
import { systemctl, type UnitDeps } from './unit.js';

export interface ConntrackdService {
  reconfigure(config: Config): Promise<void>;
  stop(): Promise<void>;
  /** Resolves when the commands for the transitions seen so far have run (tests, benchmarks). */
  idle(): Promise<void>;
}

/**
 * The conntrackd requests for a transition (primary-backup.sh): a new MASTER commits the external
 * cache into the kernel (-c), flushes both caches (-f), refills the internal one from the kernel
 * (-R) and sends it all to the peer (-B). A BACKUP asks the master for a full resync (-n).
 * With the external cache, a node that was MASTER also schedules the purge of its now stale kernel
 * entries (-t, after PurgeTimeout; a commit cancels it). Without it those entries are the peer's
 * flows injected here, the copies a later failover needs: the purge would delete them.
 */
export function syncActions(from: VrrpState, to: VrrpState, externalCache: boolean): string[] {
  const purge = externalCache && from === 'MASTER' ? ['-t'] : [];
  switch (to) {
    case 'MASTER':
      return ['-c', '-f', '-R', '-B'];
    case 'BACKUP':
      return [...purge, '-n'];
    case 'FAULT':
      return purge;
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

/**
 * TCP states of entries that hold no connection any more. conntrackd injects the peer's flows
 * without the TCP flags that let the kernel reopen an entry for a new SYN, so on a new MASTER a
 * client reusing a source port within TIME_WAIT (120 s) follows the old flow's mark and DNAT to
 * its backend, even one drained, in maintenance or down since. A node taking over deletes them.
 */
export const CLOSED_TCP_STATES = ['TIME_WAIT', 'CLOSE'] as const;

/**
 * conntrackd tracks every flow it injects liberally (the kernel checks no TCP window on it, as
 * conntrackd.conf's TCPWindowTracking is off), but a flow this node forwarded itself keeps a strict
 * entry here. Once the flow moves to the peer, that entry's window falls behind; should this node
 * take the flow back, the kernel finds its packets out of window, marks them INVALID, leaves them
 * un-NATed, and the VIP's own stack resets the connection. Nothing refreshes such an entry: the
 * peer only injected the flow, so its conntrackd neither caches it nor sends events for it, and
 * the bulk of a takeover (-R -B) that replaces entries predates the flow. A node forwards such
 * flows whenever the client's or the backends' ARP caches still point at it: in a split brain, and
 * in the moments after it gave the VIP up. Liberal tracking for all flows is what conntrackd gives
 * every synced flow already; only out-of-window RSTs stay INVALID.
 */
export const BE_LIBERAL_SYSCTL = 'net.netfilter.nf_conntrack_tcp_be_liberal';

type Configured = Config & { readonly conntrackd: ConntrackdConfig };

const READY_TRIES = 100;
const READY_STEP_MS = 50;

export async function startConntrackd(config: Configured, deps: UnitDeps): Promise<ConntrackdService> {
  const { runner, logger, view } = deps;
  const c = config.conntrackd;
  const paths = vrrpPaths(config);
  const conf = paths.conntrackdConf;
  const text = renderConntrackd(config, paths);
  const ctl = (flag: string) => runner.run(c.binary, ['-C', conf, flag], { timeoutMs: 10_000 });
  /** conntrackd answers on its socket only once initialised; requests sent before are lost. */
  const ready = async (): Promise<boolean> => {
    for (let i = 0; i < READY_TRIES; i++) {
      if ((await ctl('-s')).exitCode === 0) return true;
      await new Promise((resolve) => setTimeout(resolve, READY_STEP_MS));
    }
    return false;
  };

  /** Deletes the entries of CLOSED_TCP_STATES (the peer's included); returns how many went. */
  const deleteClosed = async (): Promise<number> => {
    let n = 0;
    for (const state of CLOSED_TCP_STATES) {
      const result = await runner.run('conntrack', ['-D', '-p', 'tcp', '--state', state], { timeoutMs: 10_000 });
      // conntrack exits 1 when nothing matched; both print "N flow entries have been deleted".
      const deleted = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(result.stderr + result.stdout);
      if (deleted) n += Number(deleted[1]);
      else logger.warn({ err: describeFailure(result), state }, `deleting the ${state} conntrack entries failed`);
    }
    return n;
  };

  // The requests of one transition run together, and transitions in the order they came.
  const queue = serialQueue();
  const enqueue = (from: VrrpState, to: VrrpState, why: string): void => {
    const actions = syncActions(from, to, c.external_cache);
    if (actions.length === 0) return;
    void queue.run(async () => {
      const started = performance.now();
      for (const flag of actions) {
        const result = await ctl(flag);
        if (result.exitCode !== 0) logger.error({ err: describeFailure(result), flag }, `conntrackd ${flag} failed`);
      }
      const closed = to === 'MASTER' ? await deleteClosed() : 0;
      logger.info({ vrrp: to, actions, closed, ms: Math.round(performance.now() - started) }, `conntrack sync (${why}): ${actions.join(' ')}`);
    }).catch((err: Error) => logger.error({ err: err.message, actions }, `conntrack sync (${why}) failed`));
  };

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
        // A restarted conntrackd has empty caches: as BACKUP it asks the master for everything.
        onRestart: () => {
          void queue.run(async () => {
            if (await ready()) enqueue('UNKNOWN', view.state, 'conntrackd restarted');
          }).catch((err: Error) => logger.error({ err: err.message }, 'conntrackd restarted, and asking it for a resync failed'));
        },
      });
      supervisor.start();
      // keepalived starts after this returns: the first BACKUP's resync request (-n) must find
      // conntrackd listening, or a node that preempts would take over with stale flows.
      if (!(await ready())) logger.warn('conntrackd is not answering yet; the first sync requests may be lost');
      break;
    case 'systemd':
      // conntrackd has no reload: a changed config needs a restart.
      if (await writeIfChanged(conf, text)) await systemctl(deps, 'restart', 'conntrackd', 'config changed');
      break;
    case 'external':
      break;
    default: {
      const never: never = c.mode;
      throw new Error(`unknown conntrackd mode ${String(never)}`);
    }
  }

  // After conntrackd is up: its netlink socket has loaded conntrack, whose sysctls exist only then.
  // Read first: under the unit (ProtectKernelTunables=, /proc/sys read-only) the operator sets it
  // in /etc/sysctl.d, and then there is nothing to write and nothing to warn about.
  const current = await runner.run('sysctl', ['-n', BE_LIBERAL_SYSCTL], { timeoutMs: 10_000 });
  if (current.exitCode !== 0 || current.stdout.trim() !== '1') {
    const liberal = await runner.run('sysctl', ['-q', '-w', `${BE_LIBERAL_SYSCTL}=1`], { timeoutMs: 10_000 });
    if (liberal.exitCode !== 0) {
      logger.warn({ err: describeFailure(liberal) }, `setting ${BE_LIBERAL_SYSCTL}=1 failed (set it in /etc/sysctl.d/; the unit keeps /proc/sys read-only): a flow this node forwarded before its peer may be reset if this node takes it back`);
    }
  }

  const unsubscribe = view.on((to, from) => enqueue(from, to, `VRRP ${to}`));

  return {
    idle: () => queue.idle(),
    reconfigure: async (next) => {
      if (!next.conntrackd || next.conntrackd.mode !== c.mode) {
        logger.warn('adding, removing or changing the mode of the conntrackd section takes effect after a restart');
        return;
      }
      const nextText = renderConntrackd({ ...next, conntrackd: next.conntrackd }, paths);
      if (c.mode === 'external' || !(await writeIfChanged(conf, nextText))) return;
      if (c.mode === 'systemd') await systemctl(deps, 'restart', 'conntrackd', 'config changed');
      else {
        // conntrackd has no reload; a restart loses only the cache the peer resends (-n on BACKUP).
        await supervisor?.stop();
        supervisor?.start();
      }
    },
    stop: async () => {
      unsubscribe();
      await queue.idle();
      await supervisor?.stop();
    },
  };
}
