// `node dist/test/soak/run.js --minutes M [--seed S] [--out FILE] [--topology pair|active-active]`
// (npm run soak): the chaos soak. Builds the lab of the topology (the VRRP pair with Redis, or
// three active-active LBs behind a router's ECMP with Redis), runs traffic through the VIP,
// injects the seeded schedule of faults and operator commands, watches the agents (status, VIP or
// routes, exits, error logs), lets it settle, records the final kernel and status of every LB,
// then checks the history and exits 1 on any violation. The seed is printed first: passing it
// again (with the same topology) replays the same schedule.

import { closeSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { HistoryRecord } from './history.js';
import { makeSchedule, countFaults } from './schedule.js';
import { spawnWatched, type Watched } from './lab.js';
import { Injector } from './faults.js';
import { checkHistory, formatReport, type CheckReport } from './checker.js';
import { readHistory } from './read.js';
import { CLIENT_TIMEOUT_MS, type LabHooks, type SoakTopology, type TopologyName } from './topology.js';
import { pairTopology } from './topo-pair.js';
import { aaTopology } from './topo-aa.js';
import { sleep } from '../netns/topology.js';
import { recordResult } from '../../bench/results.js';

/** Steady load: new connections per second, and long-lived streams held open. */
const RATE = 30;
const STREAMS = 24;

const number = (what: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number, got "${v}"`);
  return n;
};

interface Options { minutes: number; seed: number; out: string; topology: TopologyName; record?: string }

function parseArgs(argv: string[]): Options {
  const program = new Command('soak')
    .description('chaos soak of the agents: seeded faults under traffic, history checked afterwards')
    .requiredOption('--minutes <m>', 'how long the fault schedule runs', number('--minutes'))
    .option('--seed <s>', 'seed of the schedule (random when absent)', (v) => Math.trunc(number('--seed')(v)))
    .option('--out <file>', 'where the JSON-lines history goes')
    .addOption(new Option('--topology <t>', 'the lab: the VRRP pair, or three LBs behind ECMP with BGP').choices(['pair', 'active-active']).default('pair'))
    .option('--record <name>', 'also record the report in bench/results/<name>.json')
    .parse(argv);
  const o = program.opts<{ minutes: number; seed?: number; out?: string; topology: TopologyName; record?: string }>();
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const out = o.out ?? join(tmpdir(), `ha-soak-${o.topology === 'pair' ? '' : 'aa-'}${seed}.jsonl`);
  return { minutes: o.minutes, seed, out, topology: o.topology, ...(o.record ? { record: o.record } : {}) };
}

const TOPOLOGIES: Readonly<Record<TopologyName, (hooks: LabHooks) => Promise<SoakTopology>>> = { pair: pairTopology, 'active-active': aaTopology };

async function main(): Promise<number> {
  const opts = parseArgs(process.argv);
  process.stdout.write(`soak: ${opts.topology}, seed ${opts.seed}, ${opts.minutes} min, history ${opts.out} (agent logs: ${opts.out}.lbN.log)\n`);
  const fd = openSync(opts.out, 'w');
  // Every agent line, for finding the cause of a violation; the history keeps only errors.
  const logs = new Map<string, number>();
  const logOf = (lb: string): number => {
    let f = logs.get(lb);
    if (f === undefined) logs.set(lb, f = openSync(`${opts.out}.${lb}.log`, 'w'));
    return f;
  };
  let t0 = 0;
  let recording = false;
  const now = () => Date.now() - t0;
  const write = (r: HistoryRecord) => {
    if (recording) writeSync(fd, `${JSON.stringify(r)}\n`);
  };

  let topo: SoakTopology | undefined;
  let traffic: Watched | undefined;
  let polling = false;
  const interrupted = new Promise<never>((_, reject) => process.once('SIGINT', () => reject(new Error('interrupted (SIGINT)'))));
  try {
    topo = await Promise.race([TOPOLOGIES[opts.topology]({
      onAgentLine: (node, line) => {
        if (recording) writeSync(logOf(node), `${now()} ${line}\n`);
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
    const s = topo;
    await Promise.race([s.ready(), interrupted]);

    t0 = Date.now();
    recording = true;
    write(s.runRecord(opts.seed, opts.minutes));

    // Observers: each LB's status (health, admin), its VIP or the router's routes, daemon exits.
    polling = true;
    const pollers = [...s.lbs.map((lb) => s.poll(lb, now, write, () => polling)), ...(s.pollShared ? [s.pollShared(now, write, () => polling)] : [])];

    traffic = spawnWatched(s.lab.lab, 'client', process.execPath, [fileURLToPath(new URL('./traffic.js', import.meta.url)),
      '--target', s.target, '--rate', String(RATE), '--streams', String(STREAMS), '--timeout-ms', String(CLIENT_TIMEOUT_MS)], {
      line: (line) => {
        if (!line.startsWith('{')) return;
        const e = JSON.parse(line) as { k: 'conn' | 'stream'; t: number; end?: number } & Record<string, unknown>;
        const rel = (epoch: number) => Math.max(0, epoch - t0);
        if (e.k === 'conn') {
          write({ kind: 'conn', t: rel(e.t), end: rel(e.end!), farm: s.farm, ok: e.ok as boolean, ...(typeof e.port === 'number' ? { port: e.port } : {}), ...pick(e, 'backend', 'error') });
        }
        else write({ kind: 'stream', t: rel(e.t), id: e.id as number, farm: s.farm, phase: e.phase as 'open', ...pick(e, 'backend', 'error') });
      },
    });
    await sleep(3000);

    const steps = makeSchedule({ seed: opts.seed, durationMs: opts.minutes * 60_000, lbs: s.lbs, farms: [{ name: s.farm, backends: s.backends }], kinds: s.kinds });
    process.stdout.write(`soak: ${steps.length} steps, faults planned ${JSON.stringify(countFaults(steps))}\n`);
    const injector = new Injector(s.lab, {
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
    await Promise.race([sleep(Math.max(0, lastActivity + s.bounds.settleMs + 500 - now())), interrupted]);

    traffic.kill('SIGTERM');
    await traffic.done;
    polling = false;
    await Promise.all(pollers);
    write(await s.finalRecord(now));
    await s.dumpKernels(opts.out);
    write({ kind: 'end', t: now() });
    recording = false;
    closeSync(fd);
    for (const f of logs.values()) closeSync(f);

    const report = checkHistory(await readHistory(opts.out));
    process.stdout.write(formatReport(report));
    if (opts.record) record(opts, s, report, injector.injected);
    return report.violations.length > 0 ? 1 : 0;
  } finally {
    recording = false;
    polling = false;
    traffic?.kill('SIGTERM');
    await topo?.destroy();
  }
}

const pick = (e: Record<string, unknown>, ...keys: string[]): Record<string, string> =>
  Object.fromEntries(keys.filter((k) => typeof e[k] === 'string').map((k) => [k, e[k] as string]));

function record(opts: Options, topo: SoakTopology, r: CheckReport, injected: Record<string, number | undefined>): void {
  const total = Object.values(r.faults).reduce((a, b) => a + b, 0);
  recordResult(opts.record!, {
    seed: opts.seed, minutes: opts.minutes, topology: opts.topology, mode: r.mode,
    faults: total, faultsPerMinute: Math.round((total / opts.minutes) * 10) / 10, faultsByKind: r.faults, injected,
    operatorActions: r.operatorActions, operatorRefused: r.operatorRefused, slowestOperatorAnswer: r.slowestOperatorAnswer,
    connections: r.connections, streams: r.streams,
    worstDetection: r.worstDetection, worstFailover: r.worstFailover,
    bounds: topo.bounds, violations: r.violations.length, violationDetails: r.violations.slice(0, 20),
    // The checker's report as printed, so RESULTS.md shows what a reader of the run saw.
    report: formatReport(r).trimEnd().split('\n').slice(0, 40),
  });
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(2);
});
