// A clustered lab: N load balancers running the agent, backends, and a real redis-server (with
// an ACL user) on its own host in the lab, all in network namespaces.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, backendIp, labBackendsYaml, VIP, waitFor, type Lab, type NsProcess, type TopologySpec } from '../netns/topology.js';
import { agentDir, runAgentctl, startAgent, waitForChain, type AgentDir, type CtlResult } from '../support/agent.js';

export const REDIS_IP = '10.1.0.50';
export const REDIS_PORT = 6390;
export const REDIS_USER = 'lbagent';
export const REDIS_PASSWORD = 's3cret-pass';
export const redisUrl = (password = REDIS_PASSWORD) => `redis://${REDIS_USER}:${password}@${REDIS_IP}:${REDIS_PORT}/0`;

/** Farms on the lab VIP, one port each from 80, over the first two backends, checked every 200 ms. */
export const clusterFarmsYaml = (names = ['web']): string => names.map((name, f) => `  - name: ${name}
    vip: ${VIP}
    ports: [${80 + f}]
    check: { type: tcp, interval: 200ms, timeout: 100ms, rise: 2, fall: 2 }
    backends:
${labBackendsYaml(2)}
`).join('');

export function clusterTopology(lbs: number, backends: number): TopologySpec {
  return {
    bridges: ['front', 'back'],
    hosts: [
      { name: 'client', links: [{ bridge: 'front', address: '10.1.0.2/24' }], routes: [{ to: 'default', via: '10.1.0.1' }] },
      { name: 'redis', links: [{ bridge: 'front', address: `${REDIS_IP}/24` }] },
      ...Array.from({ length: lbs }, (_, i) => ({
        name: `lb${i + 1}`,
        links: [{ bridge: 'front', address: `10.1.0.${i + 1 === 1 ? 1 : 2 + i}/24` }, { bridge: 'back', address: `10.2.0.${i + 1}/24` }],
        forwarding: true,
      })),
      ...Array.from({ length: backends }, (_, i) => ({
        name: `b${i + 1}`,
        links: [{ bridge: 'back', address: `${backendIp(i + 1)}/24` }],
        routes: [{ to: 'default' as const, via: '10.2.0.1' }],
      })),
    ],
  };
}

export interface ClusterLab {
  readonly lab: Lab;
  readonly dirs: AgentDir[];
  readonly agents: (NsProcess | undefined)[];
  redis: NsProcess | undefined;
  /** `bind` other than the lab address keeps the agents out, e.g. while old state is planted. */
  startRedis(bind?: string): Promise<void>;
  stopRedis(): Promise<void>;
  redisCli(...args: string[]): Promise<string>;
  /** redis-cli to the server at `host` (e.g. 127.0.0.1 inside the redis host). */
  redisCliAt(host: string, ...args: string[]): Promise<string>;
  /** redis-cli with the last argument read from stdin (-x), for values too large for argv. */
  redisCliStdin(input: string, ...args: string[]): Promise<string>;
  startAgent(i: number): Promise<NsProcess>;
  ctl(i: number, args: string[]): Promise<CtlResult>;
  destroy(): Promise<void>;
}

/** `farmsYaml` is the farms section shared by every node; `extra(i)` adds node-local keys. */
export async function createClusterLab(opts: { lbs: number; backends: number; farmsYaml: string; cluster: string; extra?: (i: number) => string }): Promise<ClusterLab> {
  const lab = await createLab(clusterTopology(opts.lbs, opts.backends));
  const dirs = Array.from({ length: opts.lbs }, () => agentDir('ha-agent-cluster-'));
  const aclDir = dirs[0]!.dir;
  writeFileSync(join(aclDir, 'users.acl'), `user default on nopass ~* &* +@all\nuser ${REDIS_USER} on >${REDIS_PASSWORD} ~* &* +@all\n`);
  const agents: (NsProcess | undefined)[] = [];
  const c: ClusterLab = {
    lab, dirs, agents, redis: undefined,
    async startRedis(bind = REDIS_IP) {
      c.redis = lab.spawn('redis', 'redis-server', ['--port', String(REDIS_PORT), '--bind', bind, '--save', '', '--appendonly', 'no',
        '--protected-mode', 'no', '--aclfile', join(aclDir, 'users.acl'), '--dir', aclDir]);
      await c.redis.waitForLine(/Ready to accept connections/, 10_000);
    },
    async stopRedis() {
      await c.redis?.stop(2000);
      c.redis = undefined;
    },
    redisCli: (...args) => c.redisCliAt(REDIS_IP, ...args),
    async redisCliAt(host, ...args) {
      const r = await lab.exec('redis', 'redis-cli', ['-h', host, '-p', String(REDIS_PORT), '--user', REDIS_USER, '--pass', REDIS_PASSWORD, '--no-auth-warning', ...args]);
      return r.stdout.trim();
    },
    async redisCliStdin(input, ...args) {
      const r = await lab.exec('redis', 'redis-cli', ['-h', REDIS_IP, '-p', String(REDIS_PORT), '--user', REDIS_USER, '--pass', REDIS_PASSWORD, '--no-auth-warning', '-x', ...args], { input });
      return r.stdout.trim();
    },
    async startAgent(i) {
      const agent = await startAgent(lab, `lb${i + 1}`, dirs[i]!.configPath);
      agents[i] = agent;
      return agent;
    },
    ctl: (i, args) => runAgentctl(dirs[i]!.socket, args, { timeoutMs: 30_000 }),
    async destroy() {
      for (const agent of agents) await agent?.stop(3000);
      await c.stopRedis();
      await lab.destroy();
      dirs.forEach((d) => d.remove());
    },
  };
  dirs.forEach((dir, i) => dir.write(`${dir.header(`lb${i + 1}`)}${opts.extra?.(i) ?? ''}cluster: ${opts.cluster}\nfarms:\n${opts.farmsYaml}`));
  try {
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    await c.startRedis();
  } catch (err) {
    await c.destroy();
    throw err;
  }
  return c;
}

/** Waits until every agent reports the cluster connected with all its peers. */
export async function waitConnected(c: ClusterLab, peers: number): Promise<void> {
  for (let i = 0; i < c.agents.length; i++) {
    await waitFor(async () => {
      const r = await c.ctl(i, ['status', '--json']);
      if (r.exitCode !== 0) return false;
      const s = JSON.parse(r.stdout) as { cluster: { state: string; peers: unknown[] } };
      return s.cluster.state === 'connected' && s.cluster.peers.length === peers;
    }, { timeoutMs: 10_000, intervalMs: 100, what: `lb${i + 1} to see the cluster connected with ${peers} peers` });
  }
}

/**
 * Two agents sharing the lab's Redis (heartbeat `heartbeatMs`, ttl 1.5 s) over farm `web` on b1
 * and b2: both serving, both agents connected to each other, both chains holding b1 and b2.
 */
export async function createConnectedPair(farmsYaml: string, heartbeatMs: number): Promise<ClusterLab> {
  const c = await createClusterLab({ lbs: 2, backends: 2, farmsYaml, cluster: `{ redis: "${redisUrl()}", heartbeat: ${heartbeatMs}ms, heartbeat_ttl: 1500ms }` });
  try {
    await c.lab.serveName('b1');
    await c.lab.serveName('b2');
    await c.startAgent(0);
    await c.startAgent(1);
    await waitConnected(c, 1);
    for (const lb of ['lb1', 'lb2']) await waitForChain(c.lab, lb, 'web', [0, 1], 5000);
    return c;
  } catch (err) {
    await c.destroy();
    throw err;
  }
}
