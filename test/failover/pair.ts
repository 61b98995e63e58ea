// Two real agents, one in each LB namespace of pairTopology, each running its own keepalived (and
// conntrackd) from its own run_dir: the lab for the failover tests and benchmarks.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createLab, pairTopology, labBackendsYaml, VIP, LB1_FRONT_IP, LB2_FRONT_IP, LB1_BACK_IP, LB2_BACK_IP, waitFor, type Lab, type NsProcess,
} from '../netns/topology.js';
import { agentDir, agentLogs, agentStatus, spawnAgent, type AgentDir } from '../support/agent.js';
import type { VrrpState } from '../../agent/vrrp/state.js';

export type LbName = 'lb1' | 'lb2';
export const LBS: readonly LbName[] = ['lb1', 'lb2'];
/** Moves with the VIP on the back network: the backends' gateway (dnat) or the SNAT source (snat). */
export const FLOATING_BACK = '10.2.0.254';

export interface PairOptions {
  readonly backends: number;
  readonly mode: 'dnat' | 'snat';
  readonly advertMs: number;
  readonly preempt?: boolean;
  readonly preemptDelay?: string;
  readonly conntrackd?: boolean;
  /** conntrackd.external_cache (commit on MASTER, as primary-backup.sh) instead of direct injection. */
  readonly externalCache?: boolean;
}

const NODES = {
  lb1: { priority: 150, front: LB1_FRONT_IP, peer: LB2_FRONT_IP, back: LB1_BACK_IP, peerBack: LB2_BACK_IP },
  lb2: { priority: 100, front: LB2_FRONT_IP, peer: LB1_FRONT_IP, back: LB2_BACK_IP, peerBack: LB1_BACK_IP },
} as const;

export function pairConfig(dir: AgentDir, node: LbName, opts: PairOptions): string {
  const n = NODES[node];
  return `${dir.header(node)}farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    mode: ${opts.mode}
${opts.mode === 'snat' ? `    snat_source: ${FLOATING_BACK}\n` : ''}    check: { type: tcp, interval: 500ms, timeout: 200ms, rise: 1, fall: 2 }
    backends:
${labBackendsYaml(opts.backends)}
vrrp:
  interface: front
  virtual_router_id: 51
  priority: ${n.priority}
  advert_int: ${opts.advertMs}ms
  unicast_src: ${n.front}
  unicast_peers: [${n.peer}]
  preempt: ${opts.preempt ?? true}
${opts.preemptDelay ? `  preempt_delay: ${opts.preemptDelay}\n` : ''}  extra_addresses: [{ address: ${FLOATING_BACK}/24, interface: back }]
  keepalived: { mode: spawn }
${opts.conntrackd ? `conntrackd: { interface: back, local_address: ${n.back}, peer_address: ${n.peerBack}, external_cache: ${opts.externalCache ?? false} }\n` : ''}`;
}

export class Pair {
  readonly agents = new Map<LbName, NsProcess>();
  private constructor(readonly lab: Lab, readonly dirs: Record<LbName, AgentDir>, readonly opts: PairOptions) {}

  /** Builds the lab, starts the backends' servers and (unless told not to) both agents. */
  static async create(opts: PairOptions, start = true): Promise<Pair> {
    const lab = await createLab(pairTopology({ backends: opts.backends, mode: opts.mode }));
    const dirs = { lb1: agentDir('ha-failover-lb1-'), lb2: agentDir('ha-failover-lb2-') };
    const pair = new Pair(lab, dirs, opts);
    try {
      await Promise.all(Array.from({ length: opts.backends }, (_, i) => lab.serveName(`b${i + 1}`)));
      // dnat: the backends answer through whichever LB holds the floating gateway.
      if (opts.mode === 'dnat') {
        for (let i = 1; i <= opts.backends; i++) await lab.setRoute(`b${i}`, { to: 'default', via: FLOATING_BACK });
      }
      for (const lb of LBS) dirs[lb].write(pairConfig(dirs[lb], lb, opts));
      if (start) await Promise.all(LBS.map((lb) => pair.start(lb)));
    } catch (err) {
      await pair.destroy();
      throw err;
    }
    return pair;
  }

  runDir(lb: LbName): string {
    return join(this.dirs[lb].dir, 'run');
  }

  async start(lb: LbName): Promise<NsProcess> {
    const agent = spawnAgent(this.lab, lb, this.dirs[lb].configPath);
    this.agents.set(lb, agent);
    await agent.waitForLine('keepalived started', 15_000);
    return agent;
  }

  agent(lb: LbName): NsProcess {
    const agent = this.agents.get(lb);
    if (!agent) throw new Error(`no agent started on ${lb}`);
    return agent;
  }

  /** keepalived's parent pid, from the pid file in the node's run_dir. */
  keepalivedPid(lb: LbName): number {
    return Number(readFileSync(join(this.runDir(lb), 'keepalived.pid'), 'utf8').trim());
  }

  /** The LBs that have the VIP on their front interface now. */
  async vipHolders(): Promise<LbName[]> {
    const holds = await Promise.all(LBS.map(async (lb) => (await this.lab.exec(lb, 'ip', ['-o', '-4', 'addr', 'show', 'dev', 'front'])).stdout.includes(` ${VIP}/`)));
    return LBS.filter((_, i) => holds[i]);
  }

  /** `agentctl status --json` vrrp.state of the node. */
  status(lb: LbName): Promise<{ vrrp: { state: VrrpState } }> {
    return agentStatus(this.dirs[lb].socket, { timeoutMs: 10_000 });
  }

  /** The states the agent logged, in order (pino lines `VRRP X -> Y`). */
  transitions(lb: LbName): VrrpState[] {
    return agentLogs(this.agent(lb), (e) => typeof e.vrrp === 'object' && e.vrrp !== null && 'to' in e.vrrp)
      .map((e) => (e.vrrp as { to: VrrpState }).to);
  }

  /** Waits until the agent's last logged transition is `state`; returns when (epoch ms). */
  waitState(lb: LbName, state: VrrpState, timeoutMs = 10_000): Promise<number> {
    return waitFor(() => (this.transitions(lb).at(-1) === state ? Date.now() : undefined),
      { timeoutMs, intervalMs: 10, what: `${lb} to log VRRP ${state} (seen: ${this.transitions(lb).join(', ')})` });
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop(8000)));
    await this.lab.destroy();
    for (const lb of LBS) this.dirs[lb].remove();
  }
}
