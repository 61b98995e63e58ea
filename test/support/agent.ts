// Running the real daemon inside a lab namespace, as an operator would on the LB, driving it with
// agentctl and reading what it put in the kernel.

import { chmodSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Lab, NsProcess } from '../netns/topology.js';
import { waitFor } from '../netns/topology.js';
import type { Status } from '../../agent/control/status.js';
import { repoPath } from './repo.js';

export const haAgentBin = repoPath('dist/agent/cli/ha-agent.js');
export const agentctlBin = repoPath('dist/agent/cli/agentctl.js');

export interface AgentDir {
  readonly dir: string;
  readonly configPath: string;
  readonly socket: string;
  /** The `node:` and `control:` lines of a config living in this directory. */
  readonly header: (id?: string) => string;
  write(yaml: string): void;
  remove(): void;
}

export interface AgentDirOptions {
  /** control.metrics, the listen address of /metrics. */
  readonly metrics?: string;
  /** Mode of the directory itself instead of mkdtemp's 0700. */
  readonly mode?: number;
}

export function agentDir(prefix = 'ha-agent-test-', opts: AgentDirOptions = {}): AgentDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (opts.mode !== undefined) chmodSync(dir, opts.mode);
  const configPath = join(dir, 'config.yaml');
  const socket = join(dir, 'run', 'agent.sock');
  const metrics = opts.metrics ? `, metrics: "${opts.metrics}"` : '';
  return {
    dir, configPath, socket,
    header: (id = 'lb1') => `node: { id: ${id}, state_dir: ${join(dir, 'state')}, run_dir: ${join(dir, 'run')} }\ncontrol: { socket: ${socket}${metrics} }\n`,
    write: (yaml) => writeFileSync(configPath, yaml),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Starts `ha-agent run` in the host's namespace. */
export function spawnAgent(lab: Lab, host: string, configPath: string): NsProcess {
  return lab.spawn(host, process.execPath, [haAgentBin, 'run', '--config', configPath]);
}

/** Starts `ha-agent run` in the host's namespace and waits for its `ready` log line. */
export async function startAgent(lab: Lab, host: string, configPath: string, ready: string | RegExp = 'ha-agent running', timeoutMs = 15_000): Promise<NsProcess> {
  const agent = spawnAgent(lab, host, configPath);
  await agent.waitForLine(ready, timeoutMs);
  return agent;
}

/** Stops the agent, destroys the lab and removes the directory; any of them may be missing (a failed before()). */
export async function stopAgentEnv({ agent, lab, dir }: { agent?: NsProcess; lab?: Lab; dir?: AgentDir }): Promise<void> {
  await agent?.stop(3000);
  await lab?.destroy();
  dir?.remove();
}

export interface CtlResult {
  exitCode: number | undefined;
  /** What agentctl printed, final newline included. */
  stdout: string;
  stderr: string;
  /** From spawning agentctl to its exit. */
  ms: number;
}

export interface CtlOptions {
  /** Runs agentctl as this user, in group nogroup and no other (setpriv). */
  readonly user?: string;
  readonly timeoutMs?: number;
}

/** agentctl on the socket, as a child process (for --follow); never rejects on a failing exit. */
export function spawnAgentctl(socket: string, args: readonly string[], opts: CtlOptions = {}) {
  const argv = [agentctlBin, '--socket', socket, ...args];
  const options = { reject: false, stripFinalNewline: false, timeout: opts.timeoutMs } as const;
  return opts.user
    ? execa('setpriv', [`--reuid=${opts.user}`, '--regid=nogroup', '--clear-groups', process.execPath, ...argv], options)
    : execa(process.execPath, argv, options);
}

/** agentctl on the socket, run to its exit. */
export async function runAgentctl(socket: string, args: readonly string[], opts: CtlOptions = {}): Promise<CtlResult> {
  const started = performance.now();
  const r = await spawnAgentctl(socket, args, opts);
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr), ms: performance.now() - started };
}

/** `agentctl status --json`, parsed; throws when agentctl fails. */
export async function agentStatus<T = Status>(socket: string, opts: CtlOptions = {}): Promise<T> {
  const r = await runAgentctl(socket, ['status', '--json'], opts);
  if (r.exitCode !== 0) throw new Error(`agentctl status on ${socket} failed (${r.exitCode}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** One rule of a farm's MARK chain (HAM-<farm>), read from iptables-save -c. */
export interface MarkRule {
  /** n of its FARM_<farm>_<n>_ comment; undefined on a rule that marks for no one backend (a hash chain's HMARK). */
  readonly index: number | undefined;
  /** The --set-xmark value, e.g. 0x209b. */
  readonly mark: string | undefined;
  /** --probability as iptables-save prints it. */
  readonly probability: string | undefined;
  readonly packets: number;
}

/** The farm's MARK chain rules in the host's namespace, in order. */
export async function markRules(lab: Lab, host: string, farm: string): Promise<MarkRule[]> {
  const r = await lab.exec(host, 'iptables-save', ['-c', '-t', 'mangle']);
  return r.stdout.split('\n').flatMap((line) => {
    const m = /^\[(\d+):\d+\] -A (\S+) (.*)$/.exec(line);
    if (m?.[2] !== `HAM-${farm}`) return [];
    const rule = m[3]!;
    const index = new RegExp(`FARM_${farm}_(\\d+)_`).exec(rule)?.[1];
    return [{
      index: index === undefined ? undefined : Number(index),
      mark: /--set-xmark (0x[0-9a-f]+)\//.exec(rule)?.[1],
      probability: /--probability (\S+)/.exec(rule)?.[1],
      packets: Number(m[1]),
    }];
  });
}

/** The backend indexes (n of FARM_<farm>_<n>_) in the farm's MARK chain. */
export async function markedBackends(lab: Lab, host: string, farm: string): Promise<number[]> {
  const indexes = (await markRules(lab, host, farm)).flatMap((r) => (r.index === undefined ? [] : [r.index]));
  return [...new Set(indexes)].sort((a, b) => a - b);
}

/** The farm's MARK chain (a random one) in the kernel: mark -> share of new connections it yields. */
export async function kernelShares(lab: Lab, host: string, farm: string): Promise<Map<string, number>> {
  const rules = (await markRules(lab, host, farm)).map((r) => {
    if (r.mark === undefined) throw new Error(`unexpected rule in HAM-${farm}: ${JSON.stringify(r)}`);
    return { mark: r.mark, probability: r.probability === undefined ? 1 : Number(r.probability) };
  });
  // MARK does not stop the chain: the last rule that matches sets the mark.
  const shares = new Map<string, number>();
  rules.forEach((r, i) => shares.set(r.mark, r.probability * rules.slice(i + 1).reduce((keep, later) => keep * (1 - later.probability), 1)));
  return shares;
}

/** Waits until the farm's MARK chain holds exactly these backend indexes; returns when (epoch ms). */
export async function waitForChain(lab: Lab, host: string, farm: string, want: number[], timeoutMs: number): Promise<number> {
  const target = JSON.stringify([...want].sort((a, b) => a - b));
  return waitFor(async () => (JSON.stringify(await markedBackends(lab, host, farm)) === target ? Date.now() : undefined),
    { timeoutMs, intervalMs: 20, what: `HAM-${farm} to hold backends ${target}` });
}

/** Log lines of the agent (pino JSON) that parse and match. */
export function agentLogs(agent: NsProcess, match: (entry: Record<string, unknown>) => boolean): Record<string, unknown>[] {
  return agent.lines.flatMap((line) => {
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      return match(entry) ? [entry] : [];
    } catch {
      return [];
    }
  });
}
