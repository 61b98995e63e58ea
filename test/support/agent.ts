// Running the real daemon inside a lab namespace, as an operator would on the LB, and reading
// what it put in the kernel.

import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab, NsProcess } from '../netns/topology.js';
import { waitFor } from '../netns/topology.js';
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

export function agentDir(prefix = 'ha-agent-test-'): AgentDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const configPath = join(dir, 'config.yaml');
  const socket = join(dir, 'run', 'agent.sock');
  return {
    dir, configPath, socket,
    header: (id = 'lb1') => `node: { id: ${id}, state_dir: ${join(dir, 'state')}, run_dir: ${join(dir, 'run')} }\ncontrol: { socket: ${socket} }\n`,
    write: (yaml) => writeFileSync(configPath, yaml),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Starts `ha-agent run` in the host's namespace and waits for its "running" log line. */
export async function startAgent(lab: Lab, host: string, configPath: string): Promise<NsProcess> {
  const agent = lab.spawn(host, process.execPath, [haAgentBin, 'run', '--config', configPath]);
  await agent.waitForLine('ha-agent running', 15_000);
  return agent;
}

/** The rules of one chain as iptables-save prints them in the host's namespace. */
export async function chainRules(lab: Lab, host: string, table: string, chain: string, counters = false): Promise<string[]> {
  const r = await lab.exec(host, 'iptables-save', counters ? ['-c', '-t', table] : ['-t', table]);
  return r.stdout.split('\n').filter((l) => l.replace(/^\[\d+:\d+\] /, '').startsWith(`-A ${chain} `));
}

/** The backend indexes (n of FARM_<farm>_<n>_) in the farm's MARK chain. */
export async function markedBackends(lab: Lab, host: string, farm: string): Promise<number[]> {
  const rules = await chainRules(lab, host, 'mangle', `HAM-${farm}`);
  const indexes = rules.map((r) => Number(new RegExp(`FARM_${farm}_(\\d+)_`).exec(r)?.[1])).filter((n) => !Number.isNaN(n));
  return [...new Set(indexes)].sort((a, b) => a - b);
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
