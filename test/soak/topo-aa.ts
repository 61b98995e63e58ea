// The active-active topology of the soak: three LBs behind the router's ECMP (BGP with BFD), one
// dsr farm on hash-5tuple, Redis as the cluster store. The runner's part of it: bounds from the
// farm's check, BFD and the BGP liveness prefix; an observer per LB (health, BIRD's exits) and one
// of the router's route (which LBs it leads to, written as `vip` records); the final record of
// each LB's bucket table, as shares and as a digest, and its status.

import { writeFileSync } from 'node:fs';
import type { Bounds, FinalRecord, HistoryRecord } from './history.js';
import { AaSoakLab, CHECK, FARM, LBS, PORT, type LbName } from './lab-aa.js';
import { AA_FAULTS } from './schedule.js';
import { healthChanges, pidWatch, statusOf } from './observe.js';
import { CLIENT_TIMEOUT_MS, type LabHooks, type SoakTopology } from './topology.js';
import { sleep, waitFor } from '../netns/topology.js';
import { BFD_INTERVAL_MS, BFD_MULTIPLIER } from '../activeactive/topology.js';
import { ALIVE_LIFETIME_S } from '../../agent/bgp/alive.js';

const POLL_MS = 250;
/** The router's route is read more often: it times the withdrawals. */
const ROUTE_POLL_MS = 100;

/**
 * A stopped or killed agent stops refreshing the liveness prefix; the kernel deletes it after its
 * lifetime, on a whole-second timer (test/bgp/liveness.kernel.test.ts holds it to lifetime +
 * 1.5 s), and BIRD withdraws. A silent LB leaves the router's route when BFD gives up. The margin
 * covers the BGP update and the router's kernel route change.
 */
const WITHDRAW_MS = Math.max(BFD_INTERVAL_MS * BFD_MULTIPLIER, ALIVE_LIFETIME_S * 1000 + 1500);

export const AA_BOUNDS: Bounds = {
  detectionMs: CHECK.intervalMs * CHECK.fall + CHECK.timeoutMs,
  applyMs: 1000,
  failoverMs: WITHDRAW_MS + 500,
  repairMs: 2000,
  settleMs: 8000,
  // Every LB serves, so one that was cut off from Redis serves its stale view until it is back:
  // the agent's Redis client (agent/cluster/store.ts) lets a connect attempt made during the
  // fault time out (2 s), then retries within 1 s.
  resyncMs: 3000,
  // dsr keeps no flow state on the LB: a flow moved to another backend may vanish rather than be
  // reset, and the client calls it broken after its echo timeout.
  streamTimeoutMs: CLIENT_TIMEOUT_MS,
};

/**
 * hash-5tuple's Maglev tables are only about weight-proportional: over 300 farm seeds and every
 * subset of four equal backends, the worst share measured 8.2 points off (this farm's: 0.9).
 */
export const AA_SHARE_TOLERANCE = 0.09;

export async function aaTopology(hooks: LabHooks): Promise<SoakTopology> {
  const s = await AaSoakLab.create({ onAgentLine: hooks.onAgentLine, onExit: hooks.onExit });
  return {
    lab: s, lbs: LBS, target: `${FARM.vip}:${PORT}`, farm: FARM.name, backends: s.backendNames, kinds: AA_FAULTS, bounds: AA_BOUNDS,
    ready: async () => {
      await s.waitCluster(20_000);
      await waitFor(async () => ((await s.nexthops()).length === LBS.length ? true : undefined), { timeoutMs: 30_000, intervalMs: 100, what: 'the router to route the VIP to all three LBs' });
    },
    runRecord: (seed, minutes) => ({
      kind: 'run', t: 0, seed, minutes, mode: 'dsr', conntrackd: false, lbs: [...LBS],
      farms: [{ name: FARM.name, vip: FARM.vip, backends: s.backendNames }], bounds: AA_BOUNDS, cutOnDown: true,
      topology: 'active-active', shareTolerance: AA_SHARE_TOLERANCE,
    }),
    poll: (lb, now, write, on) => poll(s, lb as LbName, now, write, on),
    pollShared: (now, write, on) => pollRoute(s, now, write, on),
    finalRecord: (now) => finalRecord(s, now),
    dumpKernels: (out) => dumpKernels(s, out),
    destroy: () => s.destroy(),
  };
}

/** One LB's observer: health/admin changes, and BIRD's exits (it is the agent's, watched by pid). */
async function poll(s: AaSoakLab, lb: LbName, now: () => number, write: (r: HistoryRecord) => void, on: () => boolean): Promise<void> {
  const last = new Map<string, string>();
  const bird = pidWatch(lb, 'bird', () => s.birdPid(lb));
  while (on()) {
    const started = Date.now();
    const status = await s.status(lb);
    const t = now();
    healthChanges(lb, status, t, last, write);
    bird(t, write);
    await sleep(Math.max(0, POLL_MS - (Date.now() - started)));
  }
}

/** The router's route to the VIP: for each LB, whether it is a next hop, on each change. */
async function pollRoute(s: AaSoakLab, now: () => number, write: (r: HistoryRecord) => void, on: () => boolean): Promise<void> {
  const held = new Map<string, boolean>();
  while (on()) {
    const started = Date.now();
    const hops = await s.nexthops().catch(() => undefined);
    const t = now();
    if (hops !== undefined) {
      for (const lb of LBS) {
        const holds = hops.includes(lb);
        if (held.get(lb) !== holds) {
          held.set(lb, holds);
          write({ kind: 'vip', t, node: lb, holds });
        }
      }
    }
    await sleep(Math.max(0, ROUTE_POLL_MS - (Date.now() - started)));
  }
}

async function dumpKernels(s: AaSoakLab, out: string): Promise<void> {
  for (const lb of LBS) {
    const parts: string[] = [];
    for (const [cmd, args] of [['nft', ['list', 'ruleset']], ['ip', ['rule']], ['ip', ['route', 'show', 'table', 'all']]] as const) {
      const r = await s.lab.exec(lb, cmd, [...args], { reject: false, timeoutMs: 10_000 });
      parts.push(`### ${cmd} ${args.join(' ')}\n${r.stdout}${r.stderr}`);
    }
    writeFileSync(`${out}.${lb}.kernel`, parts.join('\n'));
  }
  const r = await s.lab.exec('router', 'ip', ['route'], { reject: false, timeoutMs: 10_000 });
  writeFileSync(`${out}.router.routes`, r.stdout + r.stderr);
}

async function finalRecord(s: AaSoakLab, now: () => number): Promise<FinalRecord> {
  const truth = { [FARM.name]: Object.fromEntries(s.backendNames.map((b) => [b, s.servers.get(b)?.exited === false])) };
  const nodes = [];
  for (const lb of LBS) {
    const status = await s.status(lb, 10_000);
    if (status === undefined) throw new Error(`${lb}'s agent does not answer status after the settle time`);
    const table = await s.kernelTable(lb, status);
    nodes.push({ node: lb, kernel: { [FARM.name]: table.shares }, digest: { [FARM.name]: table.digest }, status: { [FARM.name]: statusOf(status, FARM.name) } });
  }
  return { kind: 'final', t: now(), truth, nodes };
}
