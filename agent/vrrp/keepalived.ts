// keepalived in the three vrrp.keepalived modes: spawn (the agent runs it), systemd (the agent
// writes its config and reloads the unit), external (the agent only follows its state).

import { mkdir } from 'node:fs/promises';
import type { Config, VrrpConfig } from '../../config/schema.js';
import { writeFileAtomic, writeIfChanged } from '../state/atomic-write.js';
import { INSTANCE_NAME, renderKeepalived } from '../render/keepalived.js';
import { ensureFifo, readFifoLines, type FifoReader } from './fifo.js';
import { startHeartbeat, type Heartbeat } from './heartbeat.js';
import { parseNotifyLine } from './notify.js';
import { vrrpPaths, type VrrpPaths } from './paths.js';
import type { VrrpState } from './state.js';
import { Supervisor } from './supervisor.js';
import { stopStale } from './stale.js';
import { systemctl, type UnitDeps } from './unit.js';

export interface KeepalivedService {
  /** Re-renders after a config reload; rewrites and reloads keepalived only if the text changed. */
  reconfigure(config: Config): Promise<void>;
  stop(): Promise<void>;
  readonly pid: number | undefined;
}

type VrrpConfigured = Config & { readonly vrrp: VrrpConfig };

/** The keepalived command line in spawn mode: foreground, console logs, pid files in run_dir. */
export function keepalivedArgs(paths: VrrpPaths): string[] {
  return ['-n', '-l', '-D', '-f', paths.keepalivedConf, '-p', paths.keepalivedPid, '-r', paths.vrrpPid, '-c', paths.checkersPid];
}

export async function startKeepalived(config: VrrpConfigured, deps: UnitDeps): Promise<KeepalivedService> {
  const { runner, logger, view } = deps;
  const mode = config.vrrp.keepalived.mode;
  const paths = vrrpPaths(config);
  const follow = (state: VrrpState, detail: Record<string, unknown>): void => {
    const from = view.state;
    if (from === state) return;
    view.set(state);
    logger.info({ vrrp: { from, to: state }, ...detail }, `VRRP ${from} -> ${state}`);
  };

  await mkdir(config.node.run_dir, { recursive: true, mode: 0o755 });
  const heartbeat: Heartbeat = await startHeartbeat(paths.heartbeat);
  await ensureFifo(paths.notifyFifo, runner);
  const fifo: FifoReader = readFifoLines(paths.notifyFifo, (line) => {
    const event = parseNotifyLine(line);
    // In external mode the operator names the instance; otherwise only ours counts.
    if (!event || event.kind !== 'instance' || (mode !== 'external' && event.name !== INSTANCE_NAME)) return;
    follow(event.state, { instance: event.name, priority: event.priority });
  }, { discardBuffered: mode !== 'external' });

  let supervisor: Supervisor | undefined;
  const reloadUnit = (why: string): Promise<void> => systemctl(deps, 'reload', 'keepalived', why);

  switch (mode) {
    case 'spawn': {
      await writeFileAtomic(paths.keepalivedConf, renderKeepalived(config, paths), 0o644);
      supervisor = new Supervisor({
        name: 'keepalived',
        command: config.vrrp.keepalived.binary,
        args: keepalivedArgs(paths),
        logger,
        ...(deps.spawn ? { spawn: deps.spawn } : {}),
        // A keepalived left by an agent that could not take it down (no setpriv) would fight ours.
        beforeStart: () => stopStale(paths.keepalivedPid, paths.keepalivedConf, logger),
        onExit: () => follow('STOP', { reason: 'keepalived exited' }),
      });
      supervisor.start();
      break;
    }
    case 'systemd': {
      const changed = await writeIfChanged(paths.keepalivedConf, renderKeepalived(config, paths));
      // Reloaded at start even when unchanged: with fifo_write_vrrp_states_on_reload that is how
      // a restarted agent learns the state of a keepalived that kept running.
      await reloadUnit(changed ? 'config changed' : 'learning the current state');
      break;
    }
    case 'external':
      logger.info({ fifo: paths.notifyFifo }, 'following an external keepalived; it must have vrrp_notify_fifo set to this FIFO');
      break;
    default: {
      const never: never = mode;
      throw new Error(`unknown keepalived mode ${String(never)}`);
    }
  }

  return {
    get pid() {
      return supervisor?.pid;
    },
    reconfigure: async (next) => {
      if (!next.vrrp || next.vrrp.keepalived.mode !== mode) {
        logger.warn('adding, removing or changing the mode of the vrrp section takes effect after a restart');
        return;
      }
      const text = renderKeepalived({ ...next, vrrp: next.vrrp }, paths);
      if (mode === 'external' || !(await writeIfChanged(paths.keepalivedConf, text))) return;
      if (mode === 'spawn') {
        // SIGHUP makes keepalived re-read its config without dropping the VRRP state.
        supervisor?.signal('SIGHUP');
        logger.info({ path: paths.keepalivedConf }, 'keepalived config changed; reloading it');
      } else {
        await reloadUnit('config changed');
      }
    },
    stop: async () => {
      await supervisor?.stop();
      fifo.close();
      await heartbeat.stop();
    },
  };
}
