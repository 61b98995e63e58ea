// `ha-agent stop [--withdraw]`: stops the running agent of a config, and with --withdraw first
// withdraws its VIPs from BGP. A plain stop (SIGTERM, `systemctl stop`) leaves BIRD announcing,
// since the data path outlives the agent; before maintenance the routers must move the traffic
// away first. So: `node drain` over the control socket, wait until BIRD itself reports nothing
// exported to any peer (bounded), then stop the agent. The drain is not persisted: the next
// start announces again.
//
// How it stops: under systemd (the agent is the MainPID of a .service) with `systemctl stop`,
// since the unit's Restart=always would start a signalled agent again; otherwise SIGTERM, and
// it waits for the process to end. The agent is found as the process listening on its control
// socket, so the command runs in the agent's network namespace (Unix sockets are per namespace
// for `ss`).

import { readFile } from 'node:fs/promises';
import type { Config } from '../../config/schema.js';
import type { Runner } from '../apply/runner.js';
import { bgpPaths } from '../bgp/paths.js';
import { waitWithdrawn } from '../bgp/withdrawn.js';
import { call } from '../control/client.js';
import { ControlError } from '../control/errors.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './exit.js';

/** Longer than the unit's TimeoutStopSec, after which systemd would have killed it anyway. */
const EXIT_WAIT_MS = 20_000;

/** The pids in `ss -xlpnH src PATH` output (the listeners of one Unix socket). Pure. */
export function listenerPids(ssOutput: string): number[] {
  return [...new Set([...ssOutput.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

/** The systemd service a process runs in, from /proc/PID/cgroup (cgroup v2 or v1's name=systemd
 * line); undefined outside one (a shell, a test, a scope). Pure. */
export function serviceOf(cgroup: string): string | undefined {
  for (const line of cgroup.split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (path === undefined || (controllers !== '' && controllers !== 'name=systemd')) continue;
    const unit = /\/([^/]+\.service)$/.exec(path)?.[1];
    if (unit) return unit;
  }
  return undefined;
}

export interface StopOptions {
  readonly withdraw: boolean;
  readonly timeoutMs: number;
  readonly runner: Runner;
  /** One line of progress for the operator. */
  readonly say: (line: string) => void;
}

const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
};

async function agentPid(runner: Runner, socket: string): Promise<number> {
  const r = await runner.run('ss', ['-xlpnH', 'src', socket], { timeoutMs: 5000 });
  if (r.exitCode !== 0) throw new CliError(`ha-agent stop: ss failed: ${r.spawnError ?? r.stderr.trim()}`, EXIT_FAILURE);
  const pids = listenerPids(r.stdout);
  if (pids.length === 1) return pids[0]!;
  if (pids.length === 0) {
    throw new CliError(`ha-agent stop: no process listens on ${socket}: the agent is not running (or runs in another network namespace: run this command in its own)`, EXIT_FAILURE);
  }
  throw new CliError(`ha-agent stop: several processes listen on ${socket} (${pids.join(', ')}); stop the agent yourself`, EXIT_FAILURE);
}

async function drain(config: Config & { bgp: NonNullable<Config['bgp']> }, opts: StopOptions): Promise<void> {
  const bgp = config.bgp;
  let response;
  try {
    response = await call(config.control.socket, { cmd: 'node', action: 'drain' });
  } catch (err) {
    if (err instanceof ControlError) throw new CliError(`ha-agent stop: ${err.message}`, EXIT_FAILURE);
    throw err;
  }
  if (!response.ok) throw new CliError(`ha-agent stop: the agent refused to drain: ${response.error.message}`, EXIT_FAILURE);
  const paths = bgpPaths(config);
  const check = await waitWithdrawn({ runner: opts.runner, birdc: bgp.speaker.birdc, socket: paths.socket, peers: bgp.peers, timeoutMs: opts.timeoutMs });
  if (!check.withdrawn) {
    // Not stopped: an agent left running and drained is the state the operator can look at.
    throw new CliError(`ha-agent stop: BIRD still announces after ${Math.round(check.ms)} ms: ${check.remaining.join('; ')}\n` +
      'the agent keeps running, drained (no VIP announced by it); `agentctl node enable` announces them again', EXIT_FAILURE);
  }
  opts.say(`drained: BIRD exports no VIP to ${bgp.peers.map((p) => p.address).join(', ')} (after ${Math.round(check.ms)} ms)`);
}

export async function stopAgent(config: Config, opts: StopOptions): Promise<void> {
  const { bgp } = config;
  if (opts.withdraw && !bgp) throw new CliError('ha-agent stop: --withdraw withdraws the VIPs from BGP, and this config has no bgp section (a plain stop keeps the rules either way)', EXIT_USAGE);
  const pid = await agentPid(opts.runner, config.control.socket);
  if (opts.withdraw && bgp) await drain({ ...config, bgp }, opts);
  const unit = serviceOf(await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => ''));
  if (unit !== undefined) {
    const main = await opts.runner.run('systemctl', ['show', '--property', 'MainPID', '--value', unit], { timeoutMs: 5000 });
    if (main.exitCode === 0 && Number(main.stdout.trim()) === pid) {
      const r = await opts.runner.run('systemctl', ['stop', unit], { timeoutMs: EXIT_WAIT_MS + 10_000 });
      if (r.exitCode !== 0) throw new CliError(`ha-agent stop: systemctl stop ${unit} failed: ${r.stderr.trim()}`, EXIT_FAILURE);
      opts.say(`stopped ${unit} (pid ${pid})`);
      return;
    }
  }
  process.kill(pid, 'SIGTERM');
  const started = performance.now();
  while (!gone(pid)) {
    if (performance.now() - started > EXIT_WAIT_MS) throw new CliError(`ha-agent stop: the agent (pid ${pid}) did not exit within ${EXIT_WAIT_MS / 1000} s of SIGTERM`, EXIT_FAILURE);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  opts.say(`stopped the agent (pid ${pid})`);
}
