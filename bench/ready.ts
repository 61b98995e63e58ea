// Benchmark: time from starting `ha-agent run` to systemd's READY=1 (the rules of every farm in
// the kernel, the control socket listening), with 10 and 1000 farms of 10 backends. Each run is
// a fresh agent in a fresh network namespace with an empty state dir, and a notification socket
// of its own, as a Type=notify unit would give it; the median of the runs is the figure. The
// agent is stopped as READY=1 arrives and its CPU time read: on a busy machine wall time
// stretches, CPU time much less.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { NotifyReceiver, monotonicMs } from '../test/daemon/notify-socket.js';
import { repoPath } from '../test/support/repo.js';
import { recordResult, summarize } from './results.js';

const SIZES = [10, 1000];
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DRIVER = process.env.BENCH_DRIVER ?? 'iptables';

function configFor(dir: string, farms: number): string {
  const lines = [`node: { id: bench, state_dir: ${join(dir, 'state')}, run_dir: ${join(dir, 'run')} }`,
    `control: { socket: ${join(dir, 'run', 'agent.sock')} }`, `dataplane: { driver: ${DRIVER} }`, 'farms:'];
  for (let f = 0; f < farms; f++) {
    const vip = `10.${100 + Math.floor(f / 250)}.${f % 250}.1`;
    lines.push(`  - { name: farm${f}, vip: ${vip}, ports: [80, 443], check: { type: none }, backends: [`);
    for (let b = 0; b < 10; b++) lines.push(`      { name: b${b}, ip: 10.2.${f % 250}.${10 + b}, port: 8080, weight: ${1 + b} },`);
    lines.push('    ] }');
  }
  return `${lines.join('\n')}\n`;
}

/** user + system CPU ms of a process (/proc/<pid>/stat, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** One start: ms from spawning the agent to READY=1 arriving, and the CPU ms the agent spent until then. */
async function once(farms: number, run: number): Promise<{ wall: number; cpu: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-bench-ready-'));
  const ns = `hardy${process.pid}x${run}`;
  execFileSync('ip', ['netns', 'add', ns]);
  const receiver = await NotifyReceiver.start(join(dir, 'notify'), ['READY=1']);
  try {
    writeFileSync(join(dir, 'config.yaml'), configFor(dir, farms));
    const started = monotonicMs();
    const agent = execa('ip', ['netns', 'exec', ns, 'env', `NOTIFY_SOCKET=${receiver.address}`, process.execPath,
      repoPath('dist/agent/cli/ha-agent.js'), 'run', '--config', join(dir, 'config.yaml')], { reject: false, stdout: 'ignore', stderr: 'pipe' });
    try {
      const ready = await Promise.race([
        receiver.waitFor((n) => n.fields.get('READY') === '1', 120_000, 'READY=1'),
        agent.then((r) => { throw new Error(`the agent exited (${r.exitCode}): ${String(r.stderr).slice(-500)}`); }),
      ]);
      const cpu = cpuMs(agent.pid!);
      return { wall: ready.at - started, cpu };
    } finally {
      agent.kill('SIGTERM');
      agent.kill('SIGCONT');
      await agent;
    }
  } finally {
    await receiver.stop();
    execFileSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Record<string, unknown> = {};
for (const farms of SIZES) {
  const runs: { wall: number; cpu: number }[] = [];
  for (let run = 0; run < RUNS; run++) runs.push(await once(farms, run));
  const wall = runs.map((r) => Math.round(r.wall));
  const cpu = runs.map((r) => r.cpu);
  results[`${farms} farms`] = { wall_ms: wall, wall_median_ms: summarize(wall).p50, cpu_ms: cpu, cpu_median_ms: summarize(cpu).p50 };
  process.stdout.write(`${farms} farms: READY=1 after ${wall.join(', ')} ms (median ${summarize(wall).p50}), agent CPU ${cpu.join(', ')} ms (median ${summarize(cpu).p50})\n`);
}
recordResult('ready', { unit: 'ms', driver: DRIVER, backends_per_farm: 10, runs: RUNS, load_average: loadavg().map((l) => Math.round(l * 10) / 10), results });
