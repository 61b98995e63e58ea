// Benchmark: drift found by kernel events. The real daemon with 10k backends in 100 farms (no
// health checks, so the agent does nothing else), for each driver: the time from the start of
// an external flush to the agent's "rules repaired" line (50 trials), the cost of one full sweep
// (what `agentctl rules` runs: read the agent's rules back and compare, CPU and wall time), and
// the agent's idle CPU and RSS with the event listener on. Also counts the event losses the
// agent reported while applying 10k backends (each one a full verify).
//
// Env: BENCH_SIZE (10000), BENCH_TRIALS (50), BENCH_DRIVERS ("iptables,nftables"),
// HA_AGENT_NFT_EVENTS=monitor (the agent follows changes through an `nft monitor` child instead
// of its native listener; recorded as bench/results/drift-monitor.json).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createLab, sleep, waitFor, type Lab, type NsProcess } from '../test/netns/topology.js';
import { agentDir, agentLogs, haAgentBin, runAgentctl, type AgentDir } from '../test/support/agent.js';
import { recordResult, summarize } from './results.js';

const SIZE = Number(process.env.BENCH_SIZE ?? 10_000);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 50);
const DRIVERS = (process.env.BENCH_DRIVERS ?? 'iptables,nftables').split(',') as ('iptables' | 'nftables')[];
const FARM_SIZE = 100;
const HOST = 'lb';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

const FLUSH = { nftables: ['nft', 'flush', 'table', 'ip', 'ha_agent'], iptables: ['iptables', '-t', 'mangle', '-F', 'HAGENT-PRE'] } as const;
/** A farm chain flushed: the repair rewrites one chain, not the whole ruleset. */
const FLUSH_FARM = { nftables: ['nft', 'flush', 'chain', 'ip', 'ha_agent', 'farm_f7'], iptables: ['iptables', '-t', 'mangle', '-F', 'HAM-f7'] } as const;

function config(dir: AgentDir, driver: string): string {
  const lines = [dir.header(), `dataplane: { driver: ${driver} }`, 'farms:'];
  for (let f = 0; f * FARM_SIZE < SIZE; f++) {
    lines.push(`  - name: f${f}`, `    vip: 10.200.${Math.floor(f / 250)}.${1 + (f % 250)}`, '    ports: [80]', '    check: { type: none }', '    backends:');
    for (let i = f * FARM_SIZE; i < Math.min(SIZE, (f + 1) * FARM_SIZE); i++) {
      lines.push(`      - { name: b${i}, ip: 10.${100 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}, port: 8080 }`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** CPU of the process, and of its children that ended (iptables-save, nft list), in ms; its RSS. */
function usage(pid: number): { cpuMs: number; childrenCpuMs: number; rssMb: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  const ms = (a: number, b: number) => ((Number(fields[a]) + Number(fields[b])) * 1000) / CLK_TCK;
  return { cpuMs: ms(11, 12), childrenCpuMs: ms(13, 14), rssMb: Math.round(Number(rss) / 102.4) / 10 };
}

async function repairTimes(lab: Lab, agent: NsProcess, args: readonly string[], trials: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < trials; i++) {
    const started = Date.now();
    await lab.exec(HOST, args[0]!, args.slice(1));
    const done = await waitFor(() => agentLogs(agent, (e) => e.msg === 'rules repaired' && Number(e.time) >= started)[0],
      { timeoutMs: 60_000, intervalMs: 5, what: `the repair of ${args.join(' ')}` });
    times.push(Number(done.time) - started);
    await sleep(100);
  }
  return times;
}

async function runDriver(driver: 'iptables' | 'nftables'): Promise<Record<string, unknown>> {
  const lab = await createLab({ bridges: [], hosts: [{ name: HOST, links: [] }] });
  const dir = agentDir('ha-agent-drift-');
  let agent: NsProcess | undefined;
  try {
    dir.write(config(dir, driver));
    agent = lab.spawn(HOST, process.execPath, [haAgentBin, 'run', '--config', dir.configPath]);
    await agent.waitForLine('ha-agent running', 120_000);
    await sleep(3000);
    const pid = agent.pid!;
    const idleFrom = usage(pid);
    await sleep(10_000);
    const idleTo = usage(pid);
    const idle = { cpu_pct: Math.round(((idleTo.cpuMs - idleFrom.cpuMs) / 10_000) * 1000) / 10, rss_mb: idleTo.rssMb };
    // The sweep: one full read-back and comparison.
    const sweepMs: number[] = [];
    const sweepCpuMs: number[] = [];
    const sweepChildrenCpuMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = usage(pid);
      const r = await runAgentctl(dir.socket, ['rules'], { timeoutMs: 60_000 });
      if (r.exitCode !== 0) throw new Error(`agentctl rules exited ${r.exitCode}: ${r.stderr}`);
      const after = usage(pid);
      sweepMs.push(r.ms);
      sweepCpuMs.push(after.cpuMs - before.cpuMs);
      sweepChildrenCpuMs.push(after.childrenCpuMs - before.childrenCpuMs);
    }
    const rssAfterSweeps = usage(pid).rssMb;
    const flush = await repairTimes(lab, agent, FLUSH[driver], TRIALS);
    const flushFarm = await repairTimes(lab, agent, FLUSH_FARM[driver], Math.min(TRIALS, 20));
    const lost = agentLogs(agent, (e) => typeof e.msg === 'string' && e.msg.startsWith('ruleset changes may have been missed')).length;
    const monitorRestarts = agent.lines.filter((l) => l.includes('nft monitor exited')).length;
    const result = {
      flush: { command: FLUSH[driver].join(' '), ms: summarize(flush) },
      flush_farm_chain: { command: FLUSH_FARM[driver].join(' '), ms: summarize(flushFarm) },
      sweep: { wall_ms: summarize(sweepMs), agent_cpu_ms: summarize(sweepCpuMs), reader_cpu_ms: summarize(sweepChildrenCpuMs) },
      idle, rss_mb_after: usage(pid).rssMb, monitor_child: monitorChild(pid), rss_mb_after_sweeps: rssAfterSweeps, events_lost_reports: lost, monitor_restarts: monitorRestarts,
      source: agentLogs(agent, (e) => e.msg === 'following ruleset changes as the kernel reports them')[0]?.source,
    };
    console.log(driver, JSON.stringify(result));
    return result;
  } finally {
    await agent?.stop(10_000);
    await lab.destroy();
    dir.remove();
  }
}

/** The agent's `nft monitor` child, when it runs one: its RSS and CPU so far, and restarts logged. */
function monitorChild(agentPid: number): { rss_mb: number; cpu_ms: number } | null {
  for (const task of readFileSync(`/proc/${agentPid}/task/${agentPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
    try {
      if (readFileSync(`/proc/${task}/cmdline`, 'utf8').split('\0').includes('monitor')) {
        const u = usage(Number(task));
        return { rss_mb: u.rssMb, cpu_ms: u.cpuMs };
      }
    } catch {
      // exited while read
    }
  }
  return null;
}

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const results: Record<string, unknown> = {};
const loadBefore = load();
for (const driver of DRIVERS) results[driver] = await runDriver(driver);
recordResult(process.env.HA_AGENT_NFT_EVENTS === 'monitor' ? 'drift-monitor' : 'drift', { size: SIZE, farms: Math.ceil(SIZE / FARM_SIZE), trials: TRIALS, load: [loadBefore, load()], drivers: results });
