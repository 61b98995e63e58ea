// `node dist/test/soak/run.js --minutes M [--seed S] [--out FILE]` (npm run soak): the chaos soak.
// Builds the pair lab with Redis, runs traffic through the VIP, injects the seeded schedule of
// faults and operator commands, watches the agents (status, VIP, exits, error logs), lets it
// settle, records the final kernel and status of both LBs, then checks the history and exits 1
// on any violation. The seed is printed first: passing it again replays the same schedule.

import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import type { Bounds, HistoryRecord, HealthRecord } from './history.js';
import { makeSchedule, countFaults } from './schedule.js';
import { ADVERT_MS, CHECK, FARM, LBS, PORT, SoakLab, spawnWatched, type LbName, type Watched } from './lab.js';
import { Injector } from './faults.js';
import { checkHistory, formatReport, type CheckReport } from './checker.js';
import { readHistory } from './read.js';
import { sleep, VIP, waitFor } from '../netns/topology.js';
import { LIVENESS_BOUND_MS } from '../../agent/vrrp/liveness.js';
import { recordResult } from '../../bench/results.js';

const BACKENDS = 4;
/** Steady load: new connections per second, and long-lived streams held open. */
const RATE = 30;
const STREAMS = 24;
const POLL_MS = 250;

export const BOUNDS: Bounds = {
  detectionMs: CHECK.intervalMs * CHECK.fall + CHECK.timeoutMs,
  applyMs: 1000,
  // A hung agent is noticed by keepalived's track script; the peer then takes over within adverts.
  failoverMs: LIVENESS_BOUND_MS + 5 * ADVERT_MS,
  repairMs: 2000,
  settleMs: 8000,
};

const number = (what: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number, got "${v}"`);
  return n;
};

interface Options { minutes: number; seed: number; out: string; record?: string }

function parseArgs(argv: string[]): Options {
  const program = new Command('soak')
    .description('chaos soak of the agent pair: seeded faults under traffic, history checked afterwards')
    .requiredOption('--minutes <m>', 'how long the fault schedule runs', number('--minutes'))
    .option('--seed <s>', 'seed of the schedule (random when absent)', (v) => Math.trunc(number('--seed')(v)))
    .option('--out <file>', 'where the JSON-lines history goes')
    .option('--record <name>', 'also record the report in bench/results/<name>.json')
    .parse(argv);
  const o = program.opts<{ minutes: number; seed?: number; out?: string; record?: string }>();
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  return { minutes: o.minutes, seed, out: o.out ?? join(tmpdir(), `ha-soak-${seed}.jsonl`), ...(o.record ? { record: o.record } : {}) };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv);
  process.stdout.write(`soak: seed ${opts.seed}, ${opts.minutes} min, history ${opts.out} (agent logs: ${opts.out}.lb1.log, .lb2.log)\n`);
  const fd = openSync(opts.out, 'w');
  // Every agent line, for finding the cause of a violation; the history keeps only errors.
  const logs = Object.fromEntries(LBS.map((lb) => [lb, openSync(`${opts.out}.${lb}.log`, 'w')])) as Record<LbName, number>;
  let t0 = 0;
  let recording = false;
  const now = () => Date.now() - t0;
  const write = (r: HistoryRecord) => {
    if (recording) writeSync(fd, `${JSON.stringify(r)}\n`);
  };

  let lab: SoakLab | undefined;
  let traffic: Watched | undefined;
  let polling = false;
  const interrupted = new Promise<never>((_, reject) => process.once('SIGINT', () => reject(new Error('interrupted (SIGINT)'))));
  try {
    lab = await Promise.race([SoakLab.create({
      backends: BACKENDS, conntrackd: true,
      onAgentLine: (node, line) => {
        if (recording) writeSync(logs[node], `${now()} ${line}\n`);
        if (!recording || !line.startsWith('{')) return;
        try {
          const e = JSON.parse(line) as { level?: number | string; msg?: string };
          if (typeof e.level === 'number' ? e.level >= 50 : e.level === 'error' || e.level === 'fatal') {
            write({ kind: 'log', t: now(), node, level: String(e.level), msg: String(e.msg ?? ''), line: line.slice(0, 2000) });
          }
        } catch {
          // not a pino line
        }
      },
      onExit: (node, proc, e) => write({ kind: 'exit', t: now(), node, process: proc, code: e.code, signal: e.signal }),
    }), interrupted]);
    const s = lab;
    await Promise.race([s.waitCluster(20_000), interrupted]);
    await waitFor(() => s.holdsVip('lb1'), { timeoutMs: 10_000, what: 'lb1 to hold the VIP' });

    t0 = Date.now();
    recording = true;
    write({
      kind: 'run', t: 0, seed: opts.seed, minutes: opts.minutes, mode: 'dnat', conntrackd: true, lbs: [...LBS],
      farms: [{ name: FARM, vip: VIP, backends: s.backendNames }], bounds: BOUNDS, cutOnDown: true,
    });

    // Observers: each LB's status (health, admin) and VIP, keepalived and conntrackd exits.
    polling = true;
    const pollers = LBS.map((lb) => poll(s, lb, now, write, () => polling));

    traffic = spawnWatched(s.lab, 'client', process.execPath, [fileURLToPath(new URL('./traffic.js', import.meta.url)),
      '--target', `${VIP}:${PORT}`, '--rate', String(RATE), '--streams', String(STREAMS)], {
      line: (line) => {
        if (!line.startsWith('{')) return;
        const e = JSON.parse(line) as { k: 'conn' | 'stream'; t: number; end?: number } & Record<string, unknown>;
        const rel = (epoch: number) => Math.max(0, epoch - t0);
        if (e.k === 'conn') {
          write({ kind: 'conn', t: rel(e.t), end: rel(e.end!), farm: FARM, ok: e.ok as boolean, ...(typeof e.port === 'number' ? { port: e.port } : {}), ...pick(e, 'backend', 'error') });
        }
        else write({ kind: 'stream', t: rel(e.t), id: e.id as number, farm: FARM, phase: e.phase as 'open', ...pick(e, 'backend', 'error') });
      },
    });
    await sleep(3000);

    const steps = makeSchedule({ seed: opts.seed, durationMs: opts.minutes * 60_000, lbs: LBS, farms: [{ name: FARM, backends: s.backendNames }] });
    process.stdout.write(`soak: ${steps.length} steps, faults planned ${JSON.stringify(countFaults(steps))}\n`);
    const injector = new Injector(s, {
      now,
      fault: (r) => write({ kind: 'fault', t: now(), ...r }),
      op: (r) => write({ kind: 'op', ...r }),
    });
    const base = now();
    const tasks: Promise<void>[] = [];
    let lastActivity = 0;
    const track = (p: Promise<void>, what: string) => tasks.push(p.then(() => void (lastActivity = Math.max(lastActivity, now())), (err: unknown) => {
      lastActivity = Math.max(lastActivity, now());
      process.stderr.write(`soak: ${what} failed: ${(err as Error).message}\n`);
    }));
    for (const step of steps) {
      await Promise.race([sleep(Math.max(0, base + step.at - now())), interrupted]);
      if (step.type === 'fault') track(injector.inject(step), `${step.fault} on ${step.target}`);
      else track(injector.operate(step), `${step.action} on ${step.node}`);
    }
    await Promise.race([Promise.all(tasks), interrupted]);
    process.stdout.write(`soak: schedule done at ${(now() / 1000).toFixed(1)} s, settling\n`);
    await Promise.race([sleep(Math.max(0, lastActivity + BOUNDS.settleMs + 500 - now())), interrupted]);

    traffic.kill('SIGTERM');
    await traffic.done;
    polling = false;
    await Promise.all(pollers);
    write(await finalRecord(s, now));
    await dumpKernels(s, opts.out);
    write({ kind: 'end', t: now() });
    recording = false;
    closeSync(fd);
    for (const lb of LBS) closeSync(logs[lb]);

    const report = checkHistory(await readHistory(opts.out));
    process.stdout.write(formatReport(report));
    if (opts.record) record(opts, report, injector.injected);
    return report.violations.length > 0 ? 1 : 0;
  } finally {
    recording = false;
    polling = false;
    traffic?.kill('SIGTERM');
    await lab?.destroy();
  }
}

const pick = (e: Record<string, unknown>, ...keys: string[]): Record<string, string> =>
  Object.fromEntries(keys.filter((k) => typeof e[k] === 'string').map((k) => [k, e[k] as string]));

/** One LB's observer: health/admin and VIP changes, and the exits of the daemons its agent runs. */
async function poll(s: SoakLab, lb: LbName, now: () => number, write: (r: HistoryRecord) => void, on: () => boolean): Promise<void> {
  const last = new Map<string, string>();
  let vip: boolean | undefined;
  const pids: Record<'keepalived' | 'conntrackd', number | undefined> = { keepalived: undefined, conntrackd: undefined };
  while (on()) {
    const started = Date.now();
    const [status, holds] = await Promise.all([s.status(lb), s.holdsVip(lb).catch(() => undefined)]);
    const t = now();
    if (holds !== undefined && holds !== vip) {
      vip = holds;
      write({ kind: 'vip', t, node: lb, holds });
    }
    for (const farm of status?.farms ?? []) {
      for (const b of farm.backends) {
        if (b.health === 'unknown') continue;
        const h: HealthRecord = { kind: 'health', t, node: lb, farm: farm.name, backend: b.name, state: b.health, admin: b.admin };
        const k = `${farm.name}/${b.name}`;
        if (last.get(k) !== `${h.state}/${h.admin}`) {
          last.set(k, `${h.state}/${h.admin}`);
          write(h);
        }
      }
    }
    for (const proc of ['keepalived', 'conntrackd'] as const) {
      const pid = proc === 'keepalived' ? s.keepalivedPid(lb) : s.conntrackdPid(lb);
      if (pids[proc] !== undefined && pid !== pids[proc]) write({ kind: 'exit', t, node: lb, process: proc, code: null, signal: null });
      pids[proc] = pid;
    }
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

async function finalRecord(s: SoakLab, now: () => number): Promise<HistoryRecord> {
  const truth = { [FARM]: Object.fromEntries(s.backendNames.map((b) => [b, s.servers.get(b)?.exited === false])) };
  const nodes = [];
  for (const lb of LBS) {
    const status = await s.status(lb, 10_000);
    if (status === undefined) throw new Error(`${lb}'s agent does not answer status after the settle time`);
    const kernel = { [FARM]: await s.kernelShares(lb, status) };
    const farm = status.farms.find((f) => f.name === FARM);
    const st = Object.fromEntries((farm?.backends ?? []).map((b) => [b.name, { state: b.health === 'up' ? 'up' as const : 'down' as const, admin: b.admin }]));
    nodes.push({ node: lb, kernel, status: { [FARM]: st } });
  }
  return { kind: 'final', t: now(), truth, nodes };
}

function record(opts: Options, r: CheckReport, injected: Record<string, number | undefined>): void {
  const total = Object.values(r.faults).reduce((a, b) => a + b, 0);
  recordResult(opts.record!, {
    seed: opts.seed, minutes: opts.minutes, mode: r.mode,
    faults: total, faultsPerMinute: Math.round((total / opts.minutes) * 10) / 10, faultsByKind: r.faults, injected,
    operatorActions: r.operatorActions, operatorRefused: r.operatorRefused, slowestOperatorAnswer: r.slowestOperatorAnswer,
    connections: r.connections, streams: r.streams,
    worstDetection: r.worstDetection, worstFailover: r.worstFailover,
    bounds: BOUNDS, violations: r.violations.length, violationDetails: r.violations.slice(0, 20),
    // The checker's report as printed, so RESULTS.md shows what a reader of the run saw.
    report: formatReport(r).trimEnd().split('\n').slice(0, 40),
  });
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
});
