// The soak's lab: the failover pair (client, lb1 and lb2 each with a real agent spawning keepalived
// and conntrackd, backends b1..bn answering with their names) plus a real redis-server on its own
// host that both agents use as the cluster store. The runner needs every line an agent prints and
// every exit of the processes it watches, so agents, servers and Redis are spawned here with line
// and exit hooks rather than through the harness's capped line buffer.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, pairTopology, backendIp, VIP, type Lab } from '../netns/topology.js';
import { agentDir, kernelShares, type AgentDir } from '../support/agent.js';
import { FLOATING_BACK, LBS, pairConfig, type LbName, type PairOptions } from '../failover/pair.js';
import { REDIS_IP, redisUrl } from '../cluster/lab.js';
import { alive } from '../support/process.js';
import type { Status } from '../../agent/control/status.js';
import type { FaultLab } from './faults.js';
import { SoakLabBase, type LabHooksOf } from './lab-base.js';

export { LBS, type LbName };
export const FARM = 'web';
export const PORT = 80;
/** Rules the soak adds to the lab's firewalls carry this comment, so they are removed exactly. */
export const TAG = ['-m', 'comment', '--comment', 'ha-soak'];

/** The check the farm runs (pairConfig's): the runner's detection bound follows from it. */
export const CHECK = { intervalMs: 500, timeoutMs: 200, fall: 2, rise: 1 } as const;
export const ADVERT_MS = 100;
export const PREEMPT_DELAY_MS = 2000;

export { spawnWatched, type Exit, type Hooks, type Watched } from './spawn.js';

export interface SoakLabOptions extends LabHooksOf<LbName> {
  readonly backends: number;
  readonly conntrackd: boolean;
}

export class SoakLab extends SoakLabBase<LbName> implements FaultLab {
  readonly backendNames: string[];
  readonly backendPort = 8080;
  readonly redisIp = REDIS_IP;
  protected readonly readyLine = /keepalived started/;
  protected readonly afterFarms = 'vrrp:';
  private readonly pairOpts: PairOptions;

  private constructor(lab: Lab, dirs: Record<LbName, AgentDir>, readonly opts: SoakLabOptions) {
    super(lab, dirs, LBS, opts);
    this.backendNames = Array.from({ length: opts.backends }, (_, i) => `b${i + 1}`);
    // A restarted node waits before taking MASTER back, so its conntrackd has resynced the flows
    // the peer carried meanwhile (taking over at once resets them).
    this.pairOpts = { backends: opts.backends, mode: 'dnat', advertMs: ADVERT_MS, conntrackd: opts.conntrackd, preemptDelay: `${PREEMPT_DELAY_MS}ms` };
  }

  static async create(opts: SoakLabOptions): Promise<SoakLab> {
    const spec = pairTopology({ backends: opts.backends, mode: 'dnat', gateway: FLOATING_BACK });
    const lab = await createLab({ ...spec, hosts: [...spec.hosts, { name: 'redis', links: [{ bridge: 'front', address: `${REDIS_IP}/24` }] }] });
    const s = new SoakLab(lab, { lb1: agentDir('ha-soak-lb1-'), lb2: agentDir('ha-soak-lb2-') }, opts);
    await s.startAll();
    return s;
  }

  /** The node's valid config file: the pair's, clustered through the lab's Redis. */
  config(lb: LbName): string {
    return `${pairConfig(this.dirs[lb], lb, this.pairOpts)}cluster: { redis: "${redisUrl()}", heartbeat: 250ms, heartbeat_ttl: 1500ms }\n`;
  }

  invalidConfig(lb: LbName): string {
    return this.config(lb).replace(`ip: ${backendIp(1)},`, 'ip: 10.2.0.300,');
  }

  runDir(lb: LbName): string {
    return join(this.dirs[lb].dir, 'run');
  }

  /** The agent's entry chain flushed (`iptables -F`), as someone else's script would. */
  async flushRules(lb: LbName): Promise<void> {
    await this.lab.exec(lb, 'iptables', ['-t', 'mangle', '-F', 'HAGENT-PRE']);
  }

  async partitionRedis(lb: LbName, on: boolean): Promise<void> {
    for (const r of [['OUTPUT', '-d', REDIS_IP, ...TAG, '-j', 'DROP'], ['INPUT', '-s', REDIS_IP, ...TAG, '-j', 'DROP']]) {
      await this.lab.exec(lb, 'iptables', [on ? '-I' : '-D', ...r]);
    }
  }

  /** The VRRP link cut: the LB stops hearing and sending adverts, so both claim MASTER. */
  async cutVrrp(lb: LbName, on: boolean): Promise<void> {
    for (const r of [['INPUT', '-p', 'vrrp', ...TAG, '-j', 'DROP'], ['OUTPUT', '-p', 'vrrp', ...TAG, '-j', 'DROP']]) {
      await this.lab.exec(lb, 'iptables', [on ? '-I' : '-D', ...r]);
    }
  }

  /** keepalived's pid from the node's pid file, when it names a live process. */
  keepalivedPid(lb: LbName): number | undefined {
    const file = join(this.runDir(lb), 'keepalived.pid');
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').trim());
    return pid > 0 && alive(pid) ? pid : undefined;
  }

  private readonly conntrackd = new Map<LbName, { pid: number | undefined; at: number }>();

  /** conntrackd's pid: the process whose command line names this node's conntrackd.conf (looked up at most once a second). */
  conntrackdPid(lb: LbName): number | undefined {
    const known = this.conntrackd.get(lb);
    if (known?.pid !== undefined && alive(known.pid)) return known.pid;
    if (known !== undefined && Date.now() - known.at < 1000) return undefined;
    const pid = this.findConntrackd(lb);
    this.conntrackd.set(lb, { pid, at: Date.now() });
    return pid;
  }

  private findConntrackd(lb: LbName): number | undefined {
    const conf = join(this.runDir(lb), 'conntrackd.conf');
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        if (cmdline[0]?.endsWith('conntrackd') && cmdline.includes(conf)) return Number(entry);
      } catch {
        // gone while listing
      }
    }
    return undefined;
  }

  async holdsVip(lb: LbName): Promise<boolean> {
    const r = await this.lab.exec(lb, 'ip', ['-o', '-4', 'addr', 'show', 'dev', this.lab.iface(lb, 'front')], { reject: false, timeoutMs: 5000 });
    return r.stdout.includes(` ${VIP}/`);
  }

  /** The farm's shares read from the kernel's MARK chain on `lb`, by backend name (marks from status). */
  async kernelShares(lb: LbName, status: Status): Promise<Record<string, number>> {
    const byMark = await kernelShares(this.lab, lb, FARM);
    const farm = status.farms.find((f) => f.name === FARM);
    const out: Record<string, number> = {};
    for (const b of farm?.backends ?? []) {
      const share = byMark.get(b.mark);
      if (share !== undefined && share > 0) out[b.name] = share;
    }
    for (const mark of byMark.keys()) {
      if (!farm?.backends.some((b) => b.mark === mark)) out[`mark ${mark}`] = byMark.get(mark)!;
    }
    return out;
  }
}
