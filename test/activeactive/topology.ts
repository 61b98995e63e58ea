// Three active LBs behind a router's ECMP, the shape the active-active designs (Maglev, Katran,
// GLB) run: client -- front -- router (BIRD 2, merge paths, BFD) -- core -- lb1..lb3 (each an
// ha-agent that spawns its own BIRD) and b1..b4 on the same core network. The backends are
// ready for every mode at once: the direct-return VIPs on lo with the ARP sysctls that keep them
// from answering for them, tunl0 up to decapsulate IPIP, and a default route via the router so
// their replies bypass the LBs. Shared by the acceptance tests, the lab demo and the benchmark.

import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLab, waitFor, withTimeout, SWITCH_HOST, type HostSpec, type Lab, type NsProcess, type TopologySpec } from '../netns/topology.js';
import { agentDir, runAgentctl, spawnAgent, type AgentDir } from '../support/agent.js';
import { aaConfig, type AaFarm } from './config.js';

export const LBS = ['lb1', 'lb2', 'lb3'] as const;
export type LbName = (typeof LBS)[number];
export const ROUTER_CORE = '10.51.0.1';
export const ROUTER_UP = '10.50.0.1';
export const CLIENT = '10.50.0.2';
export const LB_ADDR: Readonly<Record<LbName, string>> = { lb1: '10.51.0.11', lb2: '10.51.0.12', lb3: '10.51.0.13' };
export const ROUTER_ASN = 65000;
export const LB_ASN = 65001;
/** BFD on both ends: 100 ms x 3. */
export const BFD_INTERVAL_MS = 100;
export const BFD_MULTIPLIER = 3;
export const MAX_BACKENDS = 4;
/** The port every farm serves, and every backend listens on (dsr and tunnel keep the port). */
export const PORT = 80;

const SILENT_TABLE = 'haat_silent';

export const backendAddr = (i: number): string => `10.51.0.${20 + i}`;

/** The router's side: eBGP to each LB with BFD, the VIP routes merged into one ECMP route. */
export function routerBirdConf(): string {
  const peers = LBS.map((lb) => `protocol bgp ${lb} {
  local as ${ROUTER_ASN};
  neighbor ${LB_ADDR[lb]} as ${LB_ASN};
  bfd on;
  connect delay time 1;
  connect retry time 2;
  error wait time 1, 10;
  ipv4 { import all; export none; };
}`);
  return `router id ${ROUTER_CORE};
protocol device { scan time 10; }
protocol bfd { interface "*" { interval ${BFD_INTERVAL_MS} ms; multiplier ${BFD_MULTIPLIER}; }; }
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
${peers.join('\n')}
`;
}

/** The lab's hosts and bridges; `extra` hosts join it (the soak's Redis on the core network). */
export function aaTopology(extra: readonly HostSpec[] = []): TopologySpec {
  const backends: HostSpec[] = Array.from({ length: MAX_BACKENDS }, (_, k) => ({
    name: `b${k + 1}`,
    links: [{ bridge: 'core', address: `${backendAddr(k + 1)}/24` }],
    routes: [{ to: 'default', via: ROUTER_CORE }],
  }));
  return {
    bridges: ['front', 'core'],
    hosts: [
      { name: 'client', links: [{ bridge: 'front', address: `${CLIENT}/24` }], routes: [{ to: 'default', via: ROUTER_UP }] },
      { name: 'router', links: [{ bridge: 'front', address: `${ROUTER_UP}/24` }, { bridge: 'core', address: `${ROUTER_CORE}/24` }], forwarding: true },
      ...LBS.map((lb): HostSpec => ({ name: lb, links: [{ bridge: 'core', address: `${LB_ADDR[lb]}/24` }], routes: [{ to: 'default', via: ROUTER_CORE }], forwarding: true })),
      ...backends,
      ...extra,
    ],
  };
}

const sysctl = (lab: Lab, host: string, settings: readonly string[]) => lab.exec(host, 'sysctl', ['-qw', ...settings]);

/**
 * Everything but the agents and the backends' servers: the router's ECMP sysctls and BIRD, the
 * switch's silence set, the LBs' sysctls and SYN counters, the backends' VIPs on lo (and IPIP
 * decapsulation for tunnel farms). Shared by ActiveActive and the soak's lab.
 */
export async function prepareAaNetwork(lab: Lab, routerDir: string, farms: readonly AaFarm[]): Promise<void> {
  // L4 hashing so one client's connections spread; no redirects: the LBs forward out the interface packets came in on.
  await sysctl(lab, 'router', ['net.ipv4.fib_multipath_hash_policy=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.core.rp_filter=0']);
  // The switch drops every frame to or from a port in the set: silence() adds an LB's port.
  await lab.exec(SWITCH_HOST, 'nft', ['-f', '-'], { input: `add table bridge ${SILENT_TABLE}
add set bridge ${SILENT_TABLE} ports { type ifname; }
add chain bridge ${SILENT_TABLE} silence { type filter hook forward priority -200; }
add rule bridge ${SILENT_TABLE} silence iifname @ports drop
add rule bridge ${SILENT_TABLE} silence oifname @ports drop
` });
  writeFileSync(join(routerDir, 'bird.conf'), routerBirdConf());
  lab.spawn('router', 'bird', ['-f', '-c', join(routerDir, 'bird.conf'), '-s', join(routerDir, 'bird.ctl'), '-P', join(routerDir, 'bird.pid')]);
  for (const lb of LBS) {
    await sysctl(lab, lb, ['net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.core.send_redirects=0', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.core.rp_filter=0']);
    // Counts the client's SYNs per VIP on each LB, whatever the driver writes: the spread measure.
    const rules = farms.map((f) => `add rule ip haat_count pre ip daddr ${f.vip} tcp flags & (syn | ack) == syn counter comment "${f.name}"`);
    await lab.exec(lb, 'nft', ['-f', '-'], { input: ['add table ip haat_count', 'add chain ip haat_count pre { type filter hook prerouting priority -450; }', ...rules, ''].join('\n') });
  }
  const vips = farms.filter((f) => f.mode === 'dsr' || f.mode === 'tunnel').map((f) => f.vip);
  for (let i = 1; i <= MAX_BACKENDS; i++) {
    const b = `b${i}`;
    // The VIP is theirs to answer from, never to claim on the wire (arp_ignore/arp_announce);
    // packets to it arrive on an interface with no route back through it: no rp_filter.
    await sysctl(lab, b, [
      'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.core.arp_ignore=1', 'net.ipv4.conf.core.arp_announce=2',
      'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.core.rp_filter=0', 'net.ipv4.conf.lo.rp_filter=0',
    ]);
    for (const vip of vips) await lab.exec(b, 'ip', ['addr', 'add', `${vip}/32`, 'dev', 'lo']);
    if (farms.some((f) => f.mode === 'tunnel')) await decapsulate(lab, b);
  }
}

/** The fallback tunnel devices receive IPIP (and ip6ip6) for any local address, the VIP included. */
async function decapsulate(lab: Lab, b: string): Promise<void> {
  const r = await lab.exec(b, 'ip', ['link', 'set', 'tunl0', 'up'], { reject: false });
  if (r.failed) {
    throw new Error(`tunnel mode needs IPIP decapsulation on the backends, and this kernel gives ${b} no tunl0 `
      + `(${r.stderr.trim()}): build it with CONFIG_NET_IPIP (and CONFIG_IPV6_TUNNEL for ip6tnl0) or load the ipip module`);
  }
  await sysctl(lab, b, ['net.ipv4.conf.tunl0.rp_filter=0']);
  await lab.exec(b, 'ip', ['link', 'set', 'ip6tnl0', 'up'], { reject: false });
}

/** The LBs the router's route to `vip` leads to now (its ECMP next hops), in route order. */
export async function routerNexthops(lab: Lab, vip: string): Promise<LbName[]> {
  const r = await execa('ip', ['-n', lab.nsName('router'), '-j', 'route', 'show', `${vip}/32`], { reject: false });
  const routes = JSON.parse(String(r.stdout) || '[]') as { gateway?: string; nexthops?: { gateway?: string }[] }[];
  const gateways = routes.flatMap((route) => (route.nexthops ? route.nexthops.map((n) => n.gateway) : [route.gateway]));
  return gateways.flatMap((g) => LBS.filter((lb) => LB_ADDR[lb] === g));
}

/** Frames to and from the LB's switch port dropped (`on`) or let through again: the LB silent, still running. */
export async function setSilent(lab: Lab, lb: LbName, on: boolean): Promise<void> {
  await lab.exec(SWITCH_HOST, 'nft', [on ? 'add' : 'delete', 'element', 'bridge', SILENT_TABLE, 'ports', `{ "${lb}-core" }`]);
}

export interface AaOptions {
  readonly driver: 'iptables' | 'nftables';
  readonly farms: readonly AaFarm[];
  /** Backends in the config at start (b1..bn); the topology always has MAX_BACKENDS. */
  readonly backends?: number;
  readonly weights?: readonly number[];
}

export class ActiveActive {
  readonly agents = new Map<LbName, NsProcess>();
  readonly servers = new Map<number, NsProcess>();
  private backendCount: number;

  private constructor(readonly lab: Lab, readonly dirs: Record<LbName, AgentDir>, readonly routerDir: string, readonly opts: AaOptions) {
    this.backendCount = opts.backends ?? 3;
  }

  /** Builds the lab, starts the router's BIRD, the backends' servers and the three agents. */
  static async create(opts: AaOptions): Promise<ActiveActive> {
    // tunl0 appears in every namespace once the module is loaded; loading it sends nothing.
    if (opts.farms.some((f) => f.mode === 'tunnel')) await execa('modprobe', ['-q', 'ipip'], { reject: false });
    const lab = await createLab(aaTopology());
    const dirs = { lb1: agentDir('ha-aa-lb1-'), lb2: agentDir('ha-aa-lb2-'), lb3: agentDir('ha-aa-lb3-') };
    const routerDir = mkdtempSync(join(tmpdir(), 'ha-aa-router-'));
    const aa = new ActiveActive(lab, dirs, routerDir, opts);
    try {
      await aa.prepare();
      await Promise.all(LBS.map((lb) => aa.start(lb)));
      await aa.waitNexthops([...LBS], 30_000);
    } catch (err) {
      await aa.destroy();
      throw err;
    }
    return aa;
  }

  private async prepare(): Promise<void> {
    await prepareAaNetwork(this.lab, this.routerDir, this.opts.farms);
    for (let i = 1; i <= MAX_BACKENDS; i++) await this.serve(i);
    this.writeConfigs();
  }

  get backends(): number {
    return this.backendCount;
  }

  /** Rewrites the three configs with b1..b`n` (call reload() to apply). */
  writeConfigs(n = this.backendCount): void {
    this.backendCount = n;
    for (const lb of LBS) {
      this.dirs[lb].write(aaConfig(this.dirs[lb], lb, { driver: this.opts.driver, farms: this.opts.farms, backends: n, weights: this.opts.weights }));
    }
  }

  /** `agentctl reload` on every LB at once; throws with the errors of the first that refuses. */
  async reload(): Promise<void> {
    const results = await Promise.all(LBS.map((lb) => runAgentctl(this.dirs[lb].socket, ['reload'], { timeoutMs: 15_000 })));
    results.forEach((r, i) => {
      if (r.exitCode !== 0) throw new Error(`agentctl reload on ${LBS[i]}: ${r.stdout}${r.stderr}`);
    });
  }

  /** The backend's name-server on PORT, on every address (the VIPs on lo included). */
  async serve(i: number): Promise<NsProcess> {
    const server = await this.lab.serveName(`b${i}`, `b${i}`, PORT);
    this.servers.set(i, server);
    return server;
  }

  async stopServer(i: number): Promise<void> {
    await this.servers.get(i)?.stop(2000);
    this.servers.delete(i);
  }

  async start(lb: LbName): Promise<NsProcess> {
    const agent = spawnAgent(this.lab, lb, this.dirs[lb].configPath);
    this.agents.set(lb, agent);
    await agent.waitForLine('announcing the VIPs with BGP', 20_000);
    return agent;
  }

  ctl(lb: LbName, args: readonly string[]) {
    return runAgentctl(this.dirs[lb].socket, args, { timeoutMs: 15_000 });
  }

  /** The LBs the router's route to `vip` leads to now (its ECMP next hops), in route order. */
  nexthops(vip = this.opts.farms[0]!.vip): Promise<LbName[]> {
    return routerNexthops(this.lab, vip);
  }

  /** Waits until every farm VIP is routed via exactly `want`; returns when (performance.now()). */
  waitNexthops(want: readonly LbName[], timeoutMs: number, intervalMs = 25): Promise<number> {
    const target = [...want].sort().join();
    return waitFor(async () => {
      for (const f of this.opts.farms) if ((await this.nexthops(f.vip)).sort().join() !== target) return undefined;
      return performance.now();
    }, { timeoutMs, intervalMs, what: `the router's VIP routes to lead to ${target || 'no LB'}` });
  }

  /**
   * Drops every frame to and from the LB at the switch: it goes silent, still running. Returns
   * when (epoch ms) the drop was handed to the kernel: nft is started first, at real-time
   * priority, and given the one element insertion once it answers, so that its start-up on a
   * busy machine is not counted as the router's detection time.
   */
  async silence(lb: LbName): Promise<number> {
    const nft = execa('ip', ['netns', 'exec', this.lab.nsName(SWITCH_HOST), 'chrt', '-f', '10', 'nft', '-i'], { reject: false, cleanup: true, buffer: false });
    const said: string[] = [];
    let listed = (): void => undefined;
    const ready = new Promise<void>((resolve) => {
      listed = resolve;
    });
    createInterface({ input: nft.stdout! }).on('line', (line) => {
      said.push(line);
      if (/^\s*type ifname/.test(line)) listed();
    });
    createInterface({ input: nft.stderr! }).on('line', (line) => said.push(line));
    const list = `list set bridge ${SILENT_TABLE} ports\n`;
    nft.stdin!.write(list);
    const answered = Promise.race([ready.then(() => true), nft.then(() => false)]);
    if (!await withTimeout(answered, 10_000, 'nft in the switch namespace to answer').catch(() => nft.kill('SIGKILL') && false)) throw new Error(`nft in the switch namespace did not list ${SILENT_TABLE}: ${said.join(' | ')}`);
    const at = Date.now();
    nft.stdin!.write(`add element bridge ${SILENT_TABLE} ports { "${lb}-core" }\n`);
    nft.stdin!.end(list);
    await nft;
    if (!said.some((l) => l.includes(`"${lb}-core"`))) throw new Error(`silencing ${lb} at the switch: ${said.join(' | ')}`);
    return at;
  }

  async unsilence(lb: LbName): Promise<void> {
    await setSilent(this.lab, lb, false);
  }

  /** SIGKILL to everything running in the LB's namespace (its agent and its BIRD): no clean stop, rules left in the kernel. */
  async kill(lb: LbName): Promise<void> {
    const pids = (await execa('ip', ['netns', 'pids', this.lab.nsName(lb)])).stdout.split('\n').filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.agents.get(lb)?.wait(5000).catch(() => undefined);
    this.agents.delete(lb);
  }

  /** SYNs to the farm's VIP each LB has seen (the haat_count counters). */
  async synCounts(farm: string): Promise<Record<LbName, number>> {
    const counts = await Promise.all(LBS.map(async (lb) => {
      const out = (await this.lab.exec(lb, 'nft', ['list', 'chain', 'ip', 'haat_count', 'pre'])).stdout;
      const line = out.split('\n').find((l) => l.includes(`comment "${farm}"`));
      const n = /counter packets (\d+)/.exec(line ?? '')?.[1];
      if (n === undefined) throw new Error(`no SYN counter for ${farm} on ${lb}: ${out}`);
      return Number(n);
    }));
    return { lb1: counts[0]!, lb2: counts[1]!, lb3: counts[2]! };
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop(5000)));
    await this.lab.destroy();
    for (const lb of LBS) this.dirs[lb].remove();
    rmSync(this.routerDir, { recursive: true, force: true });
  }
}
