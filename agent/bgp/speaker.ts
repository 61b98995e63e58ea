// Runs the node's BIRD in spawn mode, or adopts the one an earlier agent left running.
//
// Unlike keepalived, BIRD is not bound to the agent by a parent-death signal: a clean stop
// (SIGTERM) must not withdraw the VIPs, since the data path outlives the agent, and BIRD exiting
// withdraws them (a graceful restart does not help: a BFD-enabled router tears the session down
// when the LB's BFD session ends: tried against BIRD 2.0.12 on both ends). A dead or
// hung agent still withdraws, through the liveness prefix (alive.ts), in about a second. So BIRD
// runs detached, in its own process group, and the next agent adopts it by its pid file.

import { spawn as nodeSpawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { Runner } from '../apply/runner.js';
import { Supervisor, type SpawnFn } from '../vrrp/supervisor.js';
import type { BgpPaths } from './paths.js';

export interface Speaker {
  /** Asks BIRD to re-read its config and include files. */
  configure(): Promise<boolean>;
  /** Stops supervising; `kill` also ends BIRD (every VIP withdrawn at once). */
  stop(kill: boolean): Promise<void>;
  /** Times BIRD exited while supervised or adopted, and was started again. */
  readonly restarts: number;
}

/** BIRD in the foreground (-f) so the supervisor sees it exit; detached, and with no pipe to
 * us (a write to a closed one would kill it), so it outlives the agent. It logs to syslog. */
const detachedSpawn: SpawnFn = (command, args) => nodeSpawn(command, args, { stdio: 'ignore', detached: true });

async function adoptable(paths: BgpPaths): Promise<number | undefined> {
  const pid = Number((await readFile(paths.pid, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').then((s) => s.split('\0'), () => [] as string[]);
  // Ours only when it runs our config: a recycled pid must never be taken for BIRD.
  return cmdline.includes(paths.birdConf) ? pid : undefined;
}

const alivePid = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export async function startSpeaker(binary: string, birdc: string, paths: BgpPaths, runner: Runner, logger: Logger, spawn: SpawnFn = detachedSpawn): Promise<Speaker> {
  const configure = async (): Promise<boolean> => {
    const r = await runner.run(birdc, ['-s', paths.socket, 'configure'], { timeoutMs: 5000 });
    const ok = r.exitCode === 0 && !r.timedOut && !/error|failed/i.test(r.stdout);
    if (!ok) logger.error({ stdout: r.stdout.trim(), stderr: r.stderr.trim() }, 'BIRD did not take the new config');
    return ok;
  };
  let supervisor: Supervisor | undefined;
  let watch: NodeJS.Timeout | undefined;
  let stopping = false;
  let restarts = 0;
  const supervise = (): void => {
    supervisor = new Supervisor({
      name: 'bird', command: binary, args: ['-f', '-c', paths.birdConf, '-s', paths.socket, '-P', paths.pid], logger, spawn,
      // The supervisor starts it again unless we are stopping.
      onExit: () => {
        if (!stopping) restarts++;
      },
    });
    supervisor.start();
  };
  const adopted = await adoptable(paths);
  if (adopted !== undefined && alivePid(adopted)) {
    logger.info({ pid: adopted }, 'adopting the BIRD an earlier agent left running');
    await configure();
    // Not our child: watched by pid, and replaced by a supervised one if it ends.
    watch = setInterval(() => {
      if (alivePid(adopted)) return;
      clearInterval(watch);
      watch = undefined;
      logger.error({ pid: adopted }, 'the adopted BIRD exited; starting our own');
      restarts++;
      supervise();
    }, 1000);
  } else {
    supervise();
  }
  return {
    configure,
    get restarts() {
      return restarts;
    },
    stop: async (kill) => {
      stopping = true;
      clearInterval(watch);
      if (kill) {
        if (supervisor) await supervisor.stop();
        else if (adopted !== undefined && alivePid(adopted)) process.kill(adopted, 'SIGTERM');
      } else {
        supervisor?.release();
      }
    },
  };
}
