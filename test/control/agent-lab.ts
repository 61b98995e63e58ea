// A netns lab with ha-agent running inside lb1 as an operator would run it, and helpers to
// drive it with agentctl and read the kernel back.

import { createLab, singleLbTopology, labBackendsYaml, VIP, waitFor, type Lab, type NsProcess } from '../netns/topology.js';
import type { Status } from '../../agent/control/status.js';
import { agentDir, agentStatus, kernelShares, runAgentctl, spawnAgent, type AgentDir, type CtlResult } from '../support/agent.js';

export const METRICS = '127.0.0.1:9798';
export const CHECK_INTERVAL_MS = 300;

export function agentConfig(dir: AgentDir, weights: readonly number[]): string {
  return `${dir.header()}farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: tcp, interval: ${CHECK_INTERVAL_MS}ms, timeout: 200ms, rise: 2, fall: 2 }
    backends:
${labBackendsYaml(weights)}
`;
}

export class AgentLab {
  agent!: NsProcess;
  private constructor(readonly lab: Lab, readonly dir: AgentDir, readonly weights: readonly number[]) {}

  static async create(weights: readonly number[]): Promise<AgentLab> {
    const lab = await createLab(singleLbTopology({ backends: weights.length, mode: 'dnat' }));
    // 0755: others may reach the socket's directory, so the socket's own mode must keep them out.
    const self = new AgentLab(lab, agentDir('ha-agent-lab-', { metrics: METRICS, mode: 0o755 }), weights);
    try {
      await lab.addAddress('lb1', 'front', `${VIP}/32`);
      await Promise.all(weights.map((_, i) => lab.serveName(`b${i + 1}`)));
      self.dir.write(agentConfig(self.dir, weights));
      await self.start();
      return self;
    } catch (err) {
      await self.destroy();
      throw err;
    }
  }

  /** Starts the daemon in lb1 and waits until every backend is up and in the chain. */
  async start(): Promise<void> {
    this.agent = spawnAgent(this.lab, 'lb1', this.dir.configPath);
    await waitFor(async () => {
      if (this.agent.exited) throw new Error(`ha-agent exited: ${this.agent.stderrLines.join(' | ')} ${this.agent.lines.slice(-5).join(' | ')}`);
      const s = await this.status().catch(() => undefined);
      return s?.farms[0]?.backends.every((b) => b.admin !== 'enabled' || (b.health === 'up' && b.in_chain)) ? s : undefined;
    }, { timeoutMs: 15_000, intervalMs: 100, what: 'the agent to answer with every enabled backend up' });
  }

  async stop(): Promise<number | undefined> {
    return (await this.agent.stop(5000)).exitCode;
  }

  ctl(args: readonly string[], opts: { user?: string } = {}): Promise<CtlResult> {
    return runAgentctl(this.dir.socket, args, opts);
  }

  status(): Promise<Status> {
    return agentStatus(this.dir.socket);
  }

  /** The MARK chain of farm web in lb1's kernel: mark -> share of new connections it yields. */
  kernelShares(): Promise<Map<string, number>> {
    return kernelShares(this.lab, 'lb1', 'web');
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
      this.dir.remove();
    }
  }
}
