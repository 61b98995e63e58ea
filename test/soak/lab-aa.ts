// The soak's active-active lab: the ECMP topology of test/activeactive (client, router with BIRD
// and BFD, lb1..lb3 each with a real agent spawning its own BIRD, b1..b4 with the VIP on lo) with
// one dsr farm on hash-5tuple, plus a real redis-server on the core network that all three agents
// use as the cluster store. As in the pair's lab, agents, servers and Redis are spawned with line
// and exit hooks, so the runner sees every agent line and every exit.
//
// Driver: nftables. The pair soak runs iptables already, so this one covers the other driver; and
// a dsr farm's bucket table is one `bucket -> mark` map in one rule there, read back from the
// kernel as JSON, where iptables spreads it over a two-level tree of mark-matching chains.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { createLab, type Lab } from '../netns/topology.js';
import { agentDir, type AgentDir } from '../support/agent.js';
import { alive } from '../support/process.js';
import { REDIS_PASSWORD, REDIS_PORT, REDIS_USER } from '../cluster/lab.js';
import { LBS, PORT, aaTopology, backendAddr, prepareAaNetwork, routerNexthops, setSilent, type LbName } from '../activeactive/topology.js';
import { FARMS, aaConfig } from '../activeactive/config.js';
import type { Status } from '../../agent/control/status.js';
import { NFT_NAMES } from '../../agent/render/nft-model.js';
import { formatMark } from '../../agent/plan/marks.js';
import type { FaultLab } from './faults.js';
import { SoakLabBase, type LabHooksOf } from './lab-base.js';

export { LBS, PORT, type LbName };
export const FARM = FARMS.dsr;
export const BACKENDS = 4;
/** The farm's check (aaConfig's): the runner's detection bound follows from it. */
export const CHECK = { intervalMs: 250, timeoutMs: 200, fall: 2, rise: 1 } as const;
/** On the core network, so every LB reaches it without the router; silencing an LB cuts it off too. */
export const REDIS_AA_IP = '10.51.0.50';
const TABLE = 'ha_agent';
/** The soak's own rules on an LB (the Redis partition) live in their own table, never the agent's. */
const SOAK_TABLE = 'ha_soak';

export type AaSoakLabOptions = LabHooksOf<LbName>;

export class AaSoakLab extends SoakLabBase<LbName> implements FaultLab {
  readonly backendNames = Array.from({ length: BACKENDS }, (_, i) => `b${i + 1}`);
  readonly redisIp = REDIS_AA_IP;
  readonly backendPort = PORT;
  protected readonly readyLine = /announcing the VIPs with BGP/;
  protected readonly afterFarms = 'bgp:';

  private constructor(lab: Lab, dirs: Record<LbName, AgentDir>, private readonly routerDir: string, opts: AaSoakLabOptions) {
    super(lab, dirs, LBS, opts);
  }

  static async create(opts: AaSoakLabOptions): Promise<AaSoakLab> {
    const lab = await createLab(aaTopology([{ name: 'redis', links: [{ bridge: 'core', address: `${REDIS_AA_IP}/24` }] }]));
    const dirs = { lb1: agentDir('ha-soak-aa-lb1-'), lb2: agentDir('ha-soak-aa-lb2-'), lb3: agentDir('ha-soak-aa-lb3-') };
    const s = new AaSoakLab(lab, dirs, mkdtempSync(join(tmpdir(), 'ha-soak-aa-router-')), opts);
    try {
      await prepareAaNetwork(lab, s.routerDir, [FARM]);
    } catch (err) {
      await s.destroy();
      throw err;
    }
    await s.startAll();
    return s;
  }

  /** The node's valid config: the active-active one (nftables), clustered through the lab's Redis. */
  config(lb: LbName): string {
    const url = `redis://${REDIS_USER}:${REDIS_PASSWORD}@${REDIS_AA_IP}:${REDIS_PORT}/0`;
    return `${aaConfig(this.dirs[lb], lb, { driver: 'nftables', farms: [FARM], backends: BACKENDS })}cluster: { redis: "${url}", heartbeat: 250ms, heartbeat_ttl: 1500ms }\n`;
  }

  invalidConfig(lb: LbName): string {
    return this.config(lb).replace(`ip: ${backendAddr(1)},`, 'ip: 10.51.0.300,');
  }

  /** Someone else's `nft flush` of the agent's entry chain (every farm's dispatch gone). */
  async flushRules(lb: LbName): Promise<void> {
    await this.lab.exec(lb, 'nft', ['flush', 'chain', 'ip', TABLE, 'prerouting']);
  }

  async partitionRedis(lb: LbName, on: boolean): Promise<void> {
    const input = on
      ? `add table ip ${SOAK_TABLE}\nadd chain ip ${SOAK_TABLE} in { type filter hook input priority -10; }\nadd chain ip ${SOAK_TABLE} out { type filter hook output priority -10; }\n`
        + `add rule ip ${SOAK_TABLE} in ip saddr ${REDIS_AA_IP} drop\nadd rule ip ${SOAK_TABLE} out ip daddr ${REDIS_AA_IP} drop\n`
      : `delete table ip ${SOAK_TABLE}\n`;
    await this.lab.exec(lb, 'nft', ['-f', '-'], { input });
  }

  /** A simple `nft add element` at the switch: the soak times the router's reaction by its own poll, not by this call. */
  async silence(lb: LbName, on: boolean): Promise<void> {
    await setSilent(this.lab, lb, on);
  }

  /** The LB's BIRD (spawned by its agent, detached), from its pid file, when that names a live BIRD running this node's config. */
  birdPid(lb: LbName): number | undefined {
    const run = join(this.dirs[lb].dir, 'run');
    try {
      const pid = Number(readFileSync(join(run, 'bird.pid'), 'utf8').trim());
      if (!(pid > 1) || !alive(pid)) return undefined;
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(join(run, 'bird.conf')) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** The LBs the router's route to the VIP leads to now. */
  nexthops(): Promise<LbName[]> {
    return routerNexthops(this.lab, FARM.vip);
  }

  /**
   * The farm's bucket table as the kernel holds it on `lb` (the map of its direct chain), by
   * backend name (marks from status): each backend's share of the buckets, and a digest of the
   * whole bucket -> backend table, equal on two LBs exactly when every flow meets the same backend.
   */
  async kernelTable(lb: LbName, status: Status): Promise<{ shares: Record<string, number>; digest: string }> {
    const r = await this.lab.exec(lb, 'nft', ['-j', 'list', 'chain', 'ip', TABLE, NFT_NAMES.farmDirect(FARM.name)], { reject: false, timeoutMs: 10_000 });
    const owners = r.exitCode === 0 ? bucketOwners(r.stdout) : [];
    const names = new Map((status.farms.find((f) => f.name === FARM.name)?.backends ?? []).map((b) => [b.mark, b.name]));
    const byName = owners.map((mark) => names.get(mark) ?? `mark ${mark}`);
    const shares: Record<string, number> = {};
    for (const n of byName) shares[n] = (shares[n] ?? 0) + 1;
    for (const n of Object.keys(shares)) shares[n] = shares[n]! / byName.length;
    return { shares, digest: createHash('sha256').update(byName.join(',')).digest('hex').slice(0, 16) };
  }

  override async destroy(): Promise<void> {
    // BIRD outlives its agent by design; the namespace teardown kills what is left.
    try {
      await super.destroy();
    } finally {
      rmSync(this.routerDir, { recursive: true, force: true });
    }
  }
}

interface NftMapEntry { readonly 0: number | { range: [number, number] }; readonly 1: number | string }

/**
 * The bucket owners (marks, as status prints them) of the `meta mark set jhash ... map { ... }`
 * rule in `nft -j` output; [] when the chain has no such rule (no usable backend).
 */
export function bucketOwners(json: string): string[] {
  const doc = JSON.parse(json) as { nftables: { rule?: { expr: unknown[] } }[] };
  for (const item of doc.nftables) {
    for (const e of item.rule?.expr ?? []) {
      const map = (e as { mangle?: { value?: { map?: { key?: { jhash?: { mod: number } }; data?: { set?: NftMapEntry[] } } } } }).mangle?.value?.map;
      if (map?.key?.jhash === undefined || map.data?.set === undefined) continue;
      const owners: string[] = new Array<string>(map.key.jhash.mod).fill('');
      for (const entry of map.data.set) {
        const [k, v] = [entry[0], entry[1]];
        const mark = typeof v === 'number' ? formatMark(v) : String(v);
        const [from, to] = typeof k === 'number' ? [k, k] : k.range;
        for (let b = from; b <= to; b++) owners[b] = mark;
      }
      return owners;
    }
  }
  return [];
}
