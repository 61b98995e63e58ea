// A netns lab with ha-agent running inside lb1 as an operator would run it, and helpers to
// drive it with agentctl and read the kernel back.

import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { createLab, singleLbTopology, backendIp, VIP, waitFor, type Lab, type NsProcess } from '../netns/topology.js';
import type { StreamReport } from '../fixtures/bin/lib/types.js';
import type { Status } from '../../agent/control/status.js';
import { repoPath } from '../support/repo.js';

export const HA_AGENT = repoPath('dist/agent/cli/ha-agent.js');
export const AGENTCTL = repoPath('dist/agent/cli/agentctl.js');
export const METRICS = '127.0.0.1:9798';
export const CHECK_INTERVAL_MS = 300;

export function agentConfig(dir: string, weights: readonly number[], extra = ''): string {
  const backends = weights.map((w, i) => `      - { name: b${i + 1}, ip: ${backendIp(i + 1)}, port: 8080, weight: ${w} }`).join('\n');
  return `node: { id: lb1, state_dir: ${dir}/state, run_dir: ${dir}/run }
control: { socket: ${dir}/run/agent.sock, metrics: "${METRICS}" }
farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: tcp, interval: ${CHECK_INTERVAL_MS}ms, timeout: 200ms, rise: 2, fall: 2 }
    backends:
${backends}
${extra}`;
}

export interface CtlResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** From spawning agentctl to its exit. */
  ms: number;
}

export class AgentLab {
  agent!: NsProcess;
  private constructor(readonly lab: Lab, readonly dir: string, readonly weights: readonly number[]) {}

  static async create(weights: readonly number[]): Promise<AgentLab> {
    const lab = await createLab(singleLbTopology({ backends: weights.length, mode: 'dnat' }));
    try {
      await lab.addAddress('lb1', 'front', `${VIP}/32`);
      await Promise.all(weights.map((_, i) => lab.serveName(`b${i + 1}`)));
      const dir = await mkdtemp(join(tmpdir(), 'ha-agent-lab-'));
      await chmod(dir, 0o755); // others may reach the socket's directory: the socket's own mode must keep them out
      const self = new AgentLab(lab, dir, weights);
      await self.writeConfig(agentConfig(dir, weights));
      await self.start();
      return self;
    } catch (err) {
      await lab.destroy();
      throw err;
    }
  }

  get socket(): string {
    return join(this.dir, 'run', 'agent.sock');
  }

  get configFile(): string {
    return join(this.dir, 'config.yaml');
  }

  writeConfig(text: string): Promise<void> {
    return writeFile(this.configFile, text);
  }

  /** Starts the daemon in lb1 and waits until every backend is up and in the chain. */
  async start(): Promise<void> {
    this.agent = this.lab.spawn('lb1', process.execPath, [HA_AGENT, 'run', '--config', this.configFile]);
    await waitFor(async () => {
      if (this.agent.exited) throw new Error(`ha-agent exited: ${this.agent.stderrLines.join(' | ')} ${this.agent.lines.slice(-5).join(' | ')}`);
      const s = await this.status().catch(() => undefined);
      return s?.farms[0]?.backends.every((b) => b.admin !== 'enabled' || (b.health === 'up' && b.in_chain)) ? s : undefined;
    }, { timeoutMs: 15_000, intervalMs: 100, what: 'the agent to answer with every enabled backend up' });
  }

  async stop(): Promise<number | undefined> {
    return (await this.agent.stop(5000)).exitCode;
  }

  async ctl(args: readonly string[], opts: { user?: string } = {}): Promise<CtlResult> {
    const started = performance.now();
    const argv = [AGENTCTL, '--socket', this.socket, ...args];
    const r = opts.user
      ? await execa('setpriv', [`--reuid=${opts.user}`, '--regid=nogroup', '--clear-groups', process.execPath, ...argv], { reject: false, stripFinalNewline: false })
      : await execa(process.execPath, argv, { reject: false, stripFinalNewline: false });
    return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr), ms: performance.now() - started };
  }

  async status(): Promise<Status> {
    const r = await this.ctl(['status', '--json']);
    if (r.exitCode !== 0) throw new Error(`agentctl status failed (${r.exitCode}): ${r.stderr}`);
    return JSON.parse(r.stdout) as Status;
  }

  /** The MARK chain of farm web in lb1's kernel: mark -> share of new connections it yields. */
  async kernelShares(): Promise<Map<string, number>> {
    const { stdout } = await this.lab.exec('lb1', 'iptables-save', ['-t', 'mangle']);
    const rules = stdout.split('\n').filter((l) => l.startsWith('-A HAM-web ')).map((l) => {
      const p = /--probability (\S+)/.exec(l);
      const mark = /--set-xmark (0x[0-9a-f]+)\//.exec(l);
      if (!mark) throw new Error(`unexpected rule in HAM-web: ${l}`);
      return { probability: p ? Number(p[1]) : 1, mark: mark[1]! };
    });
    // MARK does not stop the chain: the last rule that matches sets the mark.
    const shares = new Map<string, number>();
    rules.forEach((r, i) => shares.set(r.mark, r.probability * rules.slice(i + 1).reduce((keep, later) => keep * (1 - later.probability), 1)));
    return shares;
  }

  /** SIGUSR1 makes stream-client print a report line; returns the next one. */
  async streamReport(stream: NsProcess): Promise<StreamReport> {
    const seen = stream.lines.length;
    stream.kill('SIGUSR1');
    const line = await waitFor(() => stream.lines.slice(seen).find((l) => l.startsWith('{')), { timeoutMs: 3000, what: 'a stream-client report' });
    return JSON.parse(line) as StreamReport;
  }

  async metricsText(): Promise<string> {
    const script = `const r = await fetch('http://${METRICS}/metrics'); if (!r.ok) process.exit(3); process.stdout.write(await r.text());`;
    const { stdout } = await this.lab.exec('lb1', process.execPath, ['--input-type=module', '-e', script]);
    return stdout.endsWith('\n') ? stdout : `${stdout}\n`; // the harness strips the final newline
  }

  async destroy(): Promise<void> {
    try {
      await this.lab.destroy();
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}
