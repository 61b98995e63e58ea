// The soak's lab: the failover pair (client, lb1 and lb2 each with a real agent spawning keepalived
// and conntrackd, backends b1..bn answering with their names) plus a real redis-server on its own
// host that both agents use as the cluster store. The runner needs every line an agent prints and
// every exit of the processes it watches, so agents, servers and Redis are spawned here with line
// and exit hooks rather than through the harness's capped line buffer.

import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { createLab, pairTopology, backendIp, waitFor, VIP, type Lab } from '../netns/topology.js';
import { fixturePath } from '../netns/fixtures.js';
import { agentDir, agentctlBin, haAgentBin, kernelShares, type AgentDir } from '../support/agent.js';
import { FLOATING_BACK, LBS, pairConfig, type LbName, type PairOptions } from '../failover/pair.js';
import { REDIS_IP, REDIS_PASSWORD, REDIS_PORT, REDIS_USER, redisUrl } from '../cluster/lab.js';
import { alive } from '../support/process.js';
import { call } from '../../agent/control/client.js';
import type { Status } from '../../agent/control/status.js';

export { LBS, type LbName };
export const FARM = 'web';
export const PORT = 80;

/** The check the farm runs (pairConfig's): the runner's detection bound follows from it. */
export const CHECK = { intervalMs: 500, timeoutMs: 200, fall: 2, rise: 1 } as const;
export const ADVERT_MS = 100;
export const PREEMPT_DELAY_MS = 2000;

export interface Exit {
  readonly code: number | null;
  readonly signal: string | null;
}

/** A process in a lab namespace whose every stdout line and its exit reach the caller. */
export interface Watched {
  readonly pid: number | undefined;
  readonly exited: boolean;
  readonly done: Promise<Exit>;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after `graceMs`; resolves on exit. */
  stop(graceMs?: number): Promise<Exit>;
  waitForLine(match: RegExp, timeoutMs: number): Promise<string>;
}

export interface Hooks {
  line?(line: string): void;
  exit?(exit: Exit): void;
}

export function spawnWatched(lab: Lab, host: string, cmd: string, args: readonly string[], hooks: Hooks = {}): Watched {
  const child = execa('ip', ['netns', 'exec', lab.nsName(host), cmd, ...args], { buffer: false, reject: false, stdin: 'ignore', cleanup: true });
  const waiters = new Set<(line: string) => void>();
  let exited = false;
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      hooks.line?.(line);
      for (const w of waiters) w(line);
    });
  }
  child.stderr?.resume();
  const done: Promise<Exit> = child.then(
    (r) => ({ code: r.exitCode ?? null, signal: r.signal ?? null }),
    () => ({ code: null, signal: null }),
  ).then((e) => {
    exited = true;
    hooks.exit?.(e);
    return e;
  });
  const handle: Watched = {
    pid: child.pid,
    get exited() {
      return exited;
    },
    done,
    kill: (signal) => void (exited || child.kill(signal)),
    async stop(graceMs = 3000) {
      if (exited) return done;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const e = await done;
      clearTimeout(timer);
      return e;
    },
    waitForLine: (match, timeoutMs) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(onLine);
        reject(new Error(`${cmd} in ${host}: no line matching ${String(match)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onLine = (line: string) => {
        if (!match.test(line)) return;
        clearTimeout(timer);
        waiters.delete(onLine);
        resolve(line);
      };
      waiters.add(onLine);
      void done.then(() => {
        if (!waiters.has(onLine)) return;
        clearTimeout(timer);
        waiters.delete(onLine);
        reject(new Error(`${cmd} in ${host} exited before printing ${String(match)}`));
      });
    }),
  };
  return handle;
}

export interface SoakLabOptions {
  readonly backends: number;
  readonly conntrackd: boolean;
  /** Called for every line an agent prints, and every exit of a watched process. */
  readonly onAgentLine?: (lb: LbName, line: string) => void;
  readonly onExit?: (node: LbName | 'redis', process: 'agent' | 'redis', exit: Exit) => void;
}

export class SoakLab {
  readonly agents = new Map<LbName, Watched>();
  readonly servers = new Map<string, Watched>();
  redis: Watched | undefined;
  readonly backendNames: string[];
  private readonly pairOpts: PairOptions;

  private constructor(readonly lab: Lab, readonly dirs: Record<LbName, AgentDir>, readonly opts: SoakLabOptions) {
    this.backendNames = Array.from({ length: opts.backends }, (_, i) => `b${i + 1}`);
    // A restarted node waits before taking MASTER back, so its conntrackd has resynced the flows
    // the peer carried meanwhile (taking over at once resets them).
    this.pairOpts = { backends: opts.backends, mode: 'dnat', advertMs: ADVERT_MS, conntrackd: opts.conntrackd, preemptDelay: `${PREEMPT_DELAY_MS}ms` };
  }

  static async create(opts: SoakLabOptions): Promise<SoakLab> {
    const spec = pairTopology({ backends: opts.backends, mode: 'dnat', gateway: FLOATING_BACK });
    const lab = await createLab({ ...spec, hosts: [...spec.hosts, { name: 'redis', links: [{ bridge: 'front', address: `${REDIS_IP}/24` }] }] });
    const s = new SoakLab(lab, { lb1: agentDir('ha-soak-lb1-'), lb2: agentDir('ha-soak-lb2-') }, opts);
    try {
      writeFileSync(join(s.dirs.lb1.dir, 'users.acl'), `user default on nopass ~* &* +@all\nuser ${REDIS_USER} on >${REDIS_PASSWORD} ~* &* +@all\n`);
      await s.startRedis();
      await Promise.all(s.backendNames.map((b) => s.startServer(b)));
      for (const lb of LBS) s.dirs[lb].write(s.config(lb));
      await Promise.all(LBS.map((lb) => s.startAgent(lb)));
    } catch (err) {
      await s.destroy();
      throw err;
    }
    return s;
  }

  /** The node's valid config file: the pair's, clustered through the lab's Redis. */
  config(lb: LbName): string {
    return `${pairConfig(this.dirs[lb], lb, this.pairOpts)}cluster: { redis: "${redisUrl()}", heartbeat: 250ms, heartbeat_ttl: 1500ms }\n`;
  }

  /** The same file with an address no loader accepts. */
  invalidConfig(lb: LbName): string {
    return this.config(lb).replace(`ip: ${backendIp(1)},`, 'ip: 10.2.0.300,');
  }

  /** A file for `agentctl config push`: the farms every node runs already, or an invalid one. */
  pushFile(lb: LbName, valid: boolean): string {
    const text = valid ? this.config(lb) : this.invalidConfig(lb);
    const farms = text.slice(text.indexOf('farms:'), text.indexOf('vrrp:'));
    const path = join(this.dirs[lb].dir, valid ? 'push-valid.yaml' : 'push-invalid.yaml');
    writeFileSync(path, `node: { id: ${lb} }\n${farms}`);
    return path;
  }

  runDir(lb: LbName): string {
    return join(this.dirs[lb].dir, 'run');
  }

  async startAgent(lb: LbName): Promise<Watched> {
    const agent = spawnWatched(this.lab, lb, process.execPath, [haAgentBin, 'run', '--config', this.dirs[lb].configPath], {
      line: (line) => this.opts.onAgentLine?.(lb, line),
      exit: (e) => this.opts.onExit?.(lb, 'agent', e),
    });
    this.agents.set(lb, agent);
    await agent.waitForLine(/keepalived started/, 20_000);
    return agent;
  }

  agent(lb: LbName): Watched {
    const a = this.agents.get(lb);
    if (!a) throw new Error(`no agent on ${lb}`);
    return a;
  }

  async startServer(backend: string): Promise<void> {
    const server = spawnWatched(this.lab, backend, process.execPath, [fixturePath('name-server'), '--port', '8080', '--name', backend]);
    this.servers.set(backend, server);
    await server.waitForLine(/listening/, 10_000);
  }

  async startRedis(): Promise<void> {
    // No persistence: a restarted Redis is an empty one.
    this.redis = spawnWatched(this.lab, 'redis', 'redis-server', ['--port', String(REDIS_PORT), '--bind', REDIS_IP, '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', '--aclfile', join(this.dirs.lb1.dir, 'users.acl'), '--dir', this.dirs.lb1.dir], { exit: (e) => this.opts.onExit?.('redis', 'redis', e) });
    await this.redis.waitForLine(/Ready to accept connections/, 10_000);
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

  /** `agentctl status --json` through the control socket; undefined when the agent does not answer in time. */
  async status(lb: LbName, timeoutMs = 1000): Promise<Status | undefined> {
    try {
      const r = await call(this.dirs[lb].socket, { cmd: 'status' }, { timeoutMs });
      return r.ok ? (r as { result: Status }).result : undefined;
    } catch {
      return undefined;
    }
  }

  /** agentctl run in the LB's namespace, as an operator on that node would. */
  async agentctl(lb: LbName, args: readonly string[], timeoutMs = 20_000): Promise<{ ok: boolean; error?: string }> {
    const r = await this.lab.exec(lb, process.execPath, [agentctlBin, '--socket', this.dirs[lb].socket, ...args], { reject: false, timeoutMs });
    if (r.exitCode === 0) return { ok: true };
    const error = (r.stderr.trim().split('\n').at(-1) ?? '') || `exit ${String(r.exitCode)}`;
    return { ok: false, error: error.slice(0, 300) };
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

  async waitCluster(timeoutMs: number): Promise<void> {
    for (const lb of LBS) {
      await waitFor(async () => (await this.status(lb))?.cluster.state === 'connected', { timeoutMs, intervalMs: 100, what: `${lb} connected to Redis` });
    }
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop(8000)));
    await Promise.all([...this.servers.values()].map((s) => s.stop(2000)));
    await this.redis?.stop(2000);
    await this.lab.destroy();
    for (const lb of LBS) this.dirs[lb].remove();
  }
}
