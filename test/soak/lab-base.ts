// What both soak labs (the VRRP pair, the active-active ECMP lab) do alike: agents, backend
// servers and a Redis spawned with line and exit hooks, the agents' control sockets and agentctl,
// and the teardown. Each lab says how it is built, what its agent prints once ready, and where its
// Redis and backends listen.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, type Lab } from '../netns/topology.js';
import { fixturePath } from '../netns/fixtures.js';
import { agentctlBin, haAgentBin, type AgentDir } from '../support/agent.js';
import { REDIS_PASSWORD, REDIS_PORT, REDIS_USER } from '../cluster/lab.js';
import { call } from '../../agent/control/client.js';
import type { Status } from '../../agent/control/status.js';
import { spawnWatched, type Exit, type Watched } from './spawn.js';

export interface LabHooksOf<L extends string> {
  /** Called for every line an agent prints, and every exit of a watched process. */
  readonly onAgentLine?: (lb: L, line: string) => void;
  readonly onExit?: (node: L | 'redis', process: 'agent' | 'redis', exit: Exit) => void;
}

export abstract class SoakLabBase<L extends string> {
  readonly agents = new Map<L, Watched>();
  readonly servers = new Map<string, Watched>();
  redis: Watched | undefined;

  protected constructor(
    readonly lab: Lab,
    readonly dirs: Record<L, AgentDir>,
    readonly lbs: readonly L[],
    private readonly hooks: LabHooksOf<L>,
  ) {}

  /** The address Redis listens on, reachable from every LB. */
  abstract readonly redisIp: string;
  /** The port the backends' servers listen on. */
  abstract readonly backendPort: number;
  /** What an agent prints once it serves (its VRRP or BGP speaker started). */
  protected abstract readonly readyLine: RegExp;
  /** The config section that follows the farms in `config()` (where a pushed file's farms end). */
  protected abstract readonly afterFarms: string;
  abstract readonly backendNames: readonly string[];
  /** The node's valid config file. */
  abstract config(lb: L): string;
  /** The same file with an address no loader accepts. */
  abstract invalidConfig(lb: L): string;

  /** Starts Redis, the backends' servers, then every agent on its config; on failure tears the lab down. */
  protected async startAll(): Promise<void> {
    try {
      this.writeRedisUsers();
      await this.startRedis();
      await Promise.all(this.backendNames.map((b) => this.startServer(b)));
      for (const lb of this.lbs) this.dirs[lb].write(this.config(lb));
      await Promise.all(this.lbs.map((lb) => this.startAgent(lb)));
    } catch (err) {
      await this.destroy();
      throw err;
    }
  }

  /** A file for `agentctl config push`: the farms every node runs already, or an invalid one. */
  pushFile(lb: L, valid: boolean): string {
    const text = valid ? this.config(lb) : this.invalidConfig(lb);
    const farms = text.slice(text.indexOf('farms:'), text.indexOf(this.afterFarms));
    const path = join(this.dirs[lb].dir, valid ? 'push-valid.yaml' : 'push-invalid.yaml');
    writeFileSync(path, `node: { id: ${lb} }\n${farms}`);
    return path;
  }

  /** Redis's ACL (kept in the first LB's dir): the agents authenticate as the cluster's user. */
  protected writeRedisUsers(): void {
    writeFileSync(join(this.dirs[this.lbs[0]!].dir, 'users.acl'), `user default on nopass ~* &* +@all\nuser ${REDIS_USER} on >${REDIS_PASSWORD} ~* &* +@all\n`);
  }

  async startAgent(lb: L): Promise<Watched> {
    const agent = spawnWatched(this.lab, lb, process.execPath, [haAgentBin, 'run', '--config', this.dirs[lb].configPath], {
      line: (line) => this.hooks.onAgentLine?.(lb, line),
      exit: (e) => this.hooks.onExit?.(lb, 'agent', e),
    });
    this.agents.set(lb, agent);
    await agent.waitForLine(this.readyLine, 20_000);
    return agent;
  }

  agent(lb: L): Watched {
    const a = this.agents.get(lb);
    if (!a) throw new Error(`no agent on ${lb}`);
    return a;
  }

  async startServer(backend: string): Promise<void> {
    const server = spawnWatched(this.lab, backend, process.execPath, [fixturePath('name-server'), '--port', String(this.backendPort), '--name', backend]);
    this.servers.set(backend, server);
    await server.waitForLine(/listening/, 10_000);
  }

  async startRedis(): Promise<void> {
    const dir = this.dirs[this.lbs[0]!].dir;
    // No persistence: a restarted Redis is an empty one.
    this.redis = spawnWatched(this.lab, 'redis', 'redis-server', ['--port', String(REDIS_PORT), '--bind', this.redisIp, '--save', '', '--appendonly', 'no',
      '--protected-mode', 'no', '--aclfile', join(dir, 'users.acl'), '--dir', dir], { exit: (e) => this.hooks.onExit?.('redis', 'redis', e) });
    await this.redis.waitForLine(/Ready to accept connections/, 10_000);
  }

  /** `agentctl status --json` through the control socket; undefined when the agent does not answer in time. */
  async status(lb: L, timeoutMs = 1000): Promise<Status | undefined> {
    try {
      const r = await call(this.dirs[lb].socket, { cmd: 'status' }, { timeoutMs });
      return r.ok ? (r as { result: Status }).result : undefined;
    } catch {
      return undefined;
    }
  }

  /** agentctl run in the LB's namespace, as an operator on that node would. */
  async agentctl(lb: L, args: readonly string[], timeoutMs = 20_000): Promise<{ ok: boolean; error?: string }> {
    const r = await this.lab.exec(lb, process.execPath, [agentctlBin, '--socket', this.dirs[lb].socket, ...args], { reject: false, timeoutMs });
    if (r.exitCode === 0) return { ok: true };
    const error = (r.stderr.trim().split('\n').at(-1) ?? '') || `exit ${String(r.exitCode)}`;
    return { ok: false, error: error.slice(0, 300) };
  }

  async waitCluster(timeoutMs: number): Promise<void> {
    for (const lb of this.lbs) {
      await waitFor(async () => (await this.status(lb))?.cluster.state === 'connected', { timeoutMs, intervalMs: 100, what: `${lb} connected to Redis` });
    }
  }

  /** Stops the agents, servers and Redis, then removes the lab and the agents' dirs. */
  async destroy(): Promise<void> {
    try {
      await Promise.all([...this.agents.values()].map((a) => a.stop(8000)));
      await Promise.all([...this.servers.values()].map((s) => s.stop(2000)));
      await this.redis?.stop(2000);
      await this.lab.destroy();
    } finally {
      for (const lb of this.lbs) this.dirs[lb].remove();
    }
  }
}
