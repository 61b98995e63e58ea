// Benchmark: what the status page costs the agent. One agent with 100 farms of 10 backends in a
// fresh network namespace; its RSS and CPU are sampled for a minute with nobody looking, then
// for a minute with a headless Chromium tab (in the same namespace) refreshing the page every
// 2 s. Checks are `none`, so the page's cost is not lost in the checks' own.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { launchInNetns } from '../test/metrics/browser.js';
import { agentStatus } from '../test/support/agent.js';
import { waitFor, sleep } from '../test/netns/poll.js';
import { repoPath } from '../test/support/repo.js';
import { recordResult } from './results.js';

const FARMS = 100;
const BACKENDS = 10;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const REFRESH_S = 2;
const LISTEN = '127.0.0.1:9798';

function configFor(dir: string): string {
  const lines = [`node: { id: bench, state_dir: ${join(dir, 'state')}, run_dir: ${join(dir, 'run')} }`,
    `control: { socket: ${join(dir, 'run', 'agent.sock')}, metrics: "${LISTEN}" }`, 'farms:'];
  for (let f = 0; f < FARMS; f++) {
    lines.push(`  - { name: farm${f}, vip: 10.100.${f}.1, ports: [80, 443], check: { type: none }, backends: [`);
    for (let b = 0; b < BACKENDS; b++) lines.push(`      { name: b${b}, ip: 10.2.${f}.${10 + b}, port: 8080, weight: ${1 + b} },`);
    lines.push('    ] }');
  }
  return `${lines.join('\n')}\n`;
}

/** user + system CPU ms (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Samples the agent once a second for SECONDS: RSS (mean, max) and CPU as a share of one core. */
async function sample(pid: number): Promise<{ rss_mean_mib: number; rss_max_mib: number; cpu_percent: number }> {
  const rss: number[] = [];
  const cpu0 = cpuMs(pid);
  const t0 = performance.now();
  for (let i = 0; i < SECONDS; i++) {
    await sleep(1000);
    rss.push(rssMiB(pid));
  }
  const cpu = ((cpuMs(pid) - cpu0) / (performance.now() - t0)) * 100;
  return { rss_mean_mib: Math.round((rss.reduce((a, b) => a + b, 0) / rss.length) * 10) / 10, rss_max_mib: Math.max(...rss), cpu_percent: Math.round(cpu * 100) / 100 };
}

const dir = mkdtempSync(join(tmpdir(), 'ha-agent-bench-page-'));
const ns = `hapage${process.pid}`;
execFileSync('ip', ['netns', 'add', ns]);
execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
writeFileSync(join(dir, 'config.yaml'), configFor(dir));
const agent = execa('ip', ['netns', 'exec', ns, process.execPath, repoPath('dist/agent/cli/ha-agent.js'), 'run', '--config', join(dir, 'config.yaml')],
  { reject: false, stdout: 'ignore', stderr: 'pipe' });
try {
  await waitFor(async () => {
    if (agent.exitCode !== null) throw new Error(`the agent exited: ${String((await agent).stderr).slice(-500)}`);
    return agentStatus(join(dir, 'run', 'agent.sock')).then((s) => s.farms.length === FARMS || undefined, () => undefined);
  }, { timeoutMs: 120_000, intervalMs: 200, what: 'the agent' });
  await sleep(10_000); // start-up garbage collected, timers settled
  const pid = agent.pid!;
  const idle = await sample(pid);
  process.stdout.write(`without the page: RSS ${idle.rss_mean_mib} MiB (max ${idle.rss_max_mib}), CPU ${idle.cpu_percent}% of a core\n`);
  const browser = await launchInNetns(ns);
  try {
    const w = await browser.open(`http://${LISTEN}/?refresh=${REFRESH_S}`);
    await w.page.locator(`section[data-farm="farm${FARMS - 1}"]`).waitFor({ timeout: 30_000 });
    const open = await sample(pid);
    const timing = await w.page.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => (e as PerformanceResourceTiming).name.includes('status.json'))
      .map((e) => ({ ms: e.duration, bytes: (e as PerformanceResourceTiming).encodedBodySize })));
    const fetches = timing.length;
    const fetchMs = timing.map((t) => t.ms).sort((a, b) => a - b)[Math.floor(timing.length / 2)] ?? NaN;
    const bytes = timing.at(-1)?.bytes ?? NaN;
    process.stdout.write(`with the page refreshing every ${REFRESH_S} s: RSS ${open.rss_mean_mib} MiB (max ${open.rss_max_mib}), CPU ${open.cpu_percent}% of a core; ` +
      `${fetches} status.json fetches, median ${Math.round(fetchMs)} ms, ${Math.round(bytes / 1024)} KiB each; browser problems: ${w.problems.length}\n`);
    recordResult('status-page', {
      farms: FARMS, backends_per_farm: BACKENDS, seconds: SECONDS, refresh_s: REFRESH_S, load_average: loadavg().map((l) => Math.round(l * 10) / 10),
      without_page: idle, with_page: { ...open, status_json_fetches: fetches, status_json_median_ms: Math.round(fetchMs), status_json_kib: Math.round(bytes / 1024) },
    });
  } finally {
    await browser.close();
  }
} finally {
  agent.kill('SIGTERM');
  await agent;
  execFileSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
}
