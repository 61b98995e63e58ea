// The pair topology of the soak: two LBs behind a VRRP VIP (keepalived, conntrackd), dnat, with
// Redis; bounds from the farm's check and keepalived's adverts. The runner's part of it: the run
// record, an observer per LB (health, VIP, keepalived and conntrackd exits) and the final record
// of each LB's MARK chain and status.

import { writeFileSync } from 'node:fs';
import type { Bounds, FinalRecord, HistoryRecord } from './history.js';
import { ADVERT_MS, CHECK, FARM, LBS, PORT, SoakLab, type LbName } from './lab.js';
import { PAIR_FAULTS } from './schedule.js';
import { healthChanges, pidWatch, statusOf } from './observe.js';
import type { LabHooks, SoakTopology } from './topology.js';
import { sleep, VIP, waitFor } from '../netns/topology.js';
import { LIVENESS_BOUND_MS } from '../../agent/vrrp/liveness.js';

const BACKENDS = 4;
const POLL_MS = 250;

export const PAIR_BOUNDS: Bounds = {
  detectionMs: CHECK.intervalMs * CHECK.fall + CHECK.timeoutMs,
  applyMs: 1000,
  // A hung agent is noticed by keepalived's track script; the peer then takes over within adverts.
  failoverMs: LIVENESS_BOUND_MS + 5 * ADVERT_MS,
  repairMs: 2000,
  settleMs: 8000,
};

export async function pairTopology(hooks: LabHooks): Promise<SoakTopology> {
  const s = await SoakLab.create({ backends: BACKENDS, conntrackd: true, onAgentLine: hooks.onAgentLine, onExit: hooks.onExit });
  return {
    lab: s, lbs: LBS, target: `${VIP}:${PORT}`, farm: FARM, backends: s.backendNames, kinds: PAIR_FAULTS, bounds: PAIR_BOUNDS,
    ready: async () => {
      await s.waitCluster(20_000);
      await waitFor(() => s.holdsVip('lb1'), { timeoutMs: 10_000, what: 'lb1 to hold the VIP' });
    },
    runRecord: (seed, minutes) => ({
      kind: 'run', t: 0, seed, minutes, mode: 'dnat', conntrackd: true, lbs: [...LBS],
      farms: [{ name: FARM, vip: VIP, backends: s.backendNames }], bounds: PAIR_BOUNDS, cutOnDown: true,
    }),
    poll: (lb, now, write, on) => poll(s, lb as LbName, now, write, on),
    finalRecord: (now) => finalRecord(s, now),
    dumpKernels: (out) => dumpKernels(s, out),
    destroy: () => s.destroy(),
  };
}

/** One LB's observer: health/admin and VIP changes, and the exits of the daemons its agent runs. */
async function poll(s: SoakLab, lb: LbName, now: () => number, write: (r: HistoryRecord) => void, on: () => boolean): Promise<void> {
  const last = new Map<string, string>();
  let vip: boolean | undefined;
  const daemons = [pidWatch(lb, 'keepalived', () => s.keepalivedPid(lb)), pidWatch(lb, 'conntrackd', () => s.conntrackdPid(lb))];
  while (on()) {
    const started = Date.now();
    const [status, holds] = await Promise.all([s.status(lb), s.holdsVip(lb).catch(() => undefined)]);
    const t = now();
    if (holds !== undefined && holds !== vip) {
      vip = holds;
      write({ kind: 'vip', t, node: lb, holds });
    }
    healthChanges(lb, status, t, last, write);
    for (const d of daemons) d(t, write);
    await sleep(Math.max(0, POLL_MS - (Date.now() - started)));
  }
}

/** Each LB's rules, sets and conntrack table at the end, beside the history: what a violation is traced back to. */
async function dumpKernels(s: SoakLab, out: string): Promise<void> {
  for (const lb of LBS) {
    const parts: string[] = [];
    for (const [cmd, args] of [['iptables-save', []], ['ipset', ['list']], ['conntrack', ['-L', '-o', 'extended']]] as const) {
      const r = await s.lab.exec(lb, cmd, [...args], { reject: false, timeoutMs: 10_000 });
      parts.push(`### ${cmd} ${args.join(' ')}\n${r.stdout}${r.stderr}`);
    }
    writeFileSync(`${out}.${lb}.kernel`, parts.join('\n'));
  }
}

async function finalRecord(s: SoakLab, now: () => number): Promise<FinalRecord> {
  const truth = { [FARM]: Object.fromEntries(s.backendNames.map((b) => [b, s.servers.get(b)?.exited === false])) };
  const nodes = [];
  for (const lb of LBS) {
    const status = await s.status(lb, 10_000);
    if (status === undefined) throw new Error(`${lb}'s agent does not answer status after the settle time`);
    nodes.push({ node: lb, kernel: { [FARM]: await s.kernelShares(lb, status) }, status: { [FARM]: statusOf(status, FARM) } });
  }
  return { kind: 'final', t: now(), truth, nodes };
}
