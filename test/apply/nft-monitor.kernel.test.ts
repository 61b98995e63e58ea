// NftMonitor against the real kernel in a namespace, for both drivers: an external flush, a
// deleted rule, a foreign rule inside an agent chain are reported within 200 ms; other software's
// tables, chains and jumps are not; the agent's own applies (their writer pids marked at spawn,
// as the wired runner will do) never are. Prints the latency and the idle child's CPU cost.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { NftMonitor, type Drift } from '../../agent/apply/nft-monitor.js';
import { agentScope } from '../../agent/apply/nft-concern.js';
import { NftCli } from '../../agent/apply/nftables.js';
import { IptablesRestore } from '../../agent/apply/iptables.js';
import type { Netfilter } from '../../agent/apply/netfilter.js';
import type { RunOptions, RunResult, Runner } from '../../agent/apply/runner.js';
import { desiredState } from '../support/config.js';
import { needsRoot } from '../support/root.js';
import { sleep, waitFor } from '../netns/poll.js';

const farms = `node: { id: lb1 }
farms:
  - name: one
    vip: 10.1.0.100
    ports: [80]
    backends: [{ name: a, ip: 10.2.0.11, port: 80 }, { name: b, ip: 10.2.0.12, port: 80 }, { name: c, ip: 10.2.0.13, port: 80 }]
  - name: two
    vip: 10.1.0.101
    ports: [443]
    mode: snat
    backends: [{ name: d, ip: 10.2.0.14, port: 443 }]
`;
const run = promisify(execFile);

/** Runs commands in the namespace and marks each child's pid as own the moment it is spawned. */
class MarkingRunner implements Runner {
  constructor(private readonly ns: string, private readonly markOwn: (pid: number) => () => void) {}

  run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const started = performance.now();
    const child = spawn('ip', ['netns', 'exec', this.ns, command, ...args], { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const release = child.pid === undefined ? () => undefined : this.markOwn(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input);
    return new Promise((resolve) => child.on('close', (code) => {
      release();
      resolve({ command, args, exitCode: code ?? -1, stdout, stderr, durationMs: performance.now() - started, timedOut: false });
    }));
  }
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

interface Case {
  readonly driver: 'nftables' | 'iptables';
  readonly netfilter: (runner: Runner) => Netfilter;
  /** External changes to agent objects, each undone afterwards by a repair. */
  readonly drifts: readonly (readonly string[])[];
  /** One change used for the latency trials. */
  readonly probe: readonly string[];
}

const CASES: readonly Case[] = [
  {
    driver: 'nftables',
    netfilter: (runner) => new NftCli(runner, { session: false }),
    drifts: [
      ['nft', 'flush', 'table', 'ip', 'ha_agent'],
      ['nft', 'delete', 'rule', 'ip', 'ha_agent', 'dnat_one', 'handle', '{dnat_one}'],
      ['nft', 'insert', 'rule', 'ip', 'ha_agent', 'farm_one', 'counter', 'accept'],
    ],
    probe: ['nft', 'insert', 'rule', 'ip', 'ha_agent', 'restore_one', 'counter'],
  },
  {
    driver: 'iptables',
    netfilter: (runner) => new IptablesRestore(runner),
    drifts: [
      ['iptables', '-t', 'mangle', '-F', 'HAGENT-PRE'],
      ['iptables', '-t', 'nat', '-D', 'HAD-one', '1'],
      ['iptables', '-t', 'nat', '-I', 'HAGENT-DNAT', '1', '-s', '1.2.3.4', '-j', 'ACCEPT'],
      ['iptables', '-t', 'mangle', '-D', 'PREROUTING', '-j', 'HAGENT-PRE'],
    ],
    probe: ['iptables', '-t', 'mangle', '-I', 'HAM-one', '1', '-s', '1.2.3.4', '-j', 'ACCEPT'],
  },
];

const DOCKER_LIKE: readonly (readonly string[])[] = [
  ['iptables', '-t', 'filter', '-N', 'DOCKER'],
  ['iptables', '-t', 'filter', '-A', 'DOCKER', '-d', '172.17.0.2/32', '-p', 'tcp', '--dport', '80', '-j', 'ACCEPT'],
  ['iptables', '-t', 'filter', '-I', 'FORWARD', '1', '-j', 'DOCKER'],
  ['iptables', '-t', 'nat', '-N', 'DOCKER'],
  ['iptables', '-t', 'nat', '-A', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER'],
  ['iptables', '-t', 'nat', '-D', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER'],
  ['iptables', '-t', 'filter', '-P', 'FORWARD', 'DROP'],
  ['nft', 'add', 'table', 'inet', 'other'],
  ['nft', 'add', 'chain', 'inet', 'other', 'fwd_other', '{ type filter hook forward priority 0; }'],
  ['nft', 'add', 'rule', 'inet', 'other', 'fwd_other', 'counter', 'accept'],
  ['nft', 'flush', 'chain', 'inet', 'other', 'fwd_other'],
];

for (const c of CASES) {
  describe(`NftMonitor, ${c.driver} driver, in a real namespace`, needsRoot(), () => {
    const ns = `hamon${c.driver.slice(0, 3)}${process.pid}`;
    const sh = (args: readonly string[]) => run('ip', ['netns', 'exec', ns, ...args]);
    const drifts: { drift: Drift; at: number }[] = [];
    let monitor: NftMonitor;
    let netfilter: Netfilter;
    const desired = desiredState(farms);

    before(async () => {
      execFileSync('ip', ['netns', 'add', ns]);
      monitor = new NftMonitor({
        scope: agentScope(c.driver),
        argv: ['ip', 'netns', 'exec', ns, 'nft'],
        onDrift: (drift) => drifts.push({ drift, at: performance.now() }),
      });
      await monitor.start();
      netfilter = c.netfilter(new MarkingRunner(ns, (pid) => monitor.markOwn(pid)));
      await netfilter.adopt();
      await netfilter.sync(desired);
    });
    after(async () => {
      await monitor.stop();
      execFileSync('ip', ['netns', 'del', ns]);
    });

    /** Runs an external change; resolves with how long after its start the listener heard of it. */
    async function external(args: readonly string[]): Promise<{ latencyMs: number; drift: Drift }> {
      const seen = drifts.length;
      const started = performance.now();
      await sh(args);
      await waitFor(() => drifts.length > seen, { timeoutMs: 2000, intervalMs: 2, what: `a report of ${args.join(' ')}` });
      const { drift, at } = drifts[seen]!;
      return { latencyMs: at - started, drift };
    }

    it('reports an external flush, deleted rule, inserted foreign rule within 200 ms, naming them', async () => {
      for (const template of c.drifts) {
        const handle = /^\{(.+)\}$/.exec(template.at(-1)!)?.[1];
        const args = handle === undefined ? template : [...template.slice(0, -1), await lastHandle(sh, handle)];
        const { latencyMs, drift } = await external(args);
        assert.ok(latencyMs < 200, `${args.join(' ')}: reported after ${latencyMs.toFixed(1)} ms`);
        assert.equal(drift.cause, 'change');
        assert.ok(drift.reasons.length > 0 && drift.events.length > 0, JSON.stringify(drift));
        assert.equal(drifts.length, drifts.indexOf(drifts.find((d) => d.drift === drift)!) + 1, `one report for ${args.join(' ')}`);
        await netfilter.repair(desired);
        assert.deepEqual((await netfilter.verify()).differences, []);
      }
    });

    it('does not report other software`s tables, chains and jumps', async () => {
      const seen = drifts.length;
      const before = monitor.stats.transactions;
      for (const args of DOCKER_LIKE) await sh(args);
      await waitFor(() => monitor.stats.transactions >= before + DOCKER_LIKE.length, { timeoutMs: 2000, intervalMs: 5, what: 'the foreign transactions' });
      await sleep(100);
      assert.deepEqual(drifts.slice(seen).map((d) => d.drift.reasons), []);
    });

    it('300 own applies produce no report', async () => {
      const seen = drifts.length;
      const own = monitor.stats.own;
      const down = [[], ['one/a'], ['one/a', 'one/b'], ['two/d'], ['one/c']];
      const childCpu = cpuMs(monitor.pid!);
      const started = performance.now();
      let changed = 0;
      for (let i = 1; i <= 300; i++) if ((await netfilter.sync(desiredState(farms, down[i % down.length]!))).changed) changed++;
      const elapsed = performance.now() - started;
      assert.equal(changed, 300);
      // iptables-restore commits once per table it changes: at least one transaction per apply.
      await waitFor(() => monitor.stats.own >= own + changed, { timeoutMs: 5000, intervalMs: 5, what: `the own transactions (${monitor.stats.own - own} seen)` });
      await sleep(100);
      assert.deepEqual(drifts.slice(seen).map((d) => d.drift.reasons), []);
      console.log(`# ${c.driver}: 300 applies in ${elapsed.toFixed(0)} ms, ${monitor.stats.own - own} own transactions, monitor child CPU ${(cpuMs(monitor.pid!) - childCpu).toFixed(0)} ms`);
    });

    it('measures the latency over 50 external changes, and the idle child', async () => {
      const latencies: number[] = [];
      for (let i = 0; i < 50; i++) {
        const { latencyMs } = await external(c.probe);
        latencies.push(latencyMs);
        await netfilter.repair(desired);
      }
      latencies.sort((a, b) => a - b);
      const pid = monitor.pid!;
      const cpu = cpuMs(pid);
      await sleep(5000);
      const idle = cpuMs(pid) - cpu;
      const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      console.log(`# ${c.driver}: change -> listener p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms (from the start of the external command)`);
      console.log(`# ${c.driver}: idle monitor child: ${idle.toFixed(0)} ms CPU in 5 s, RSS ${rss} kB`);
      assert.ok(percentile(latencies, 99) < 200, `p99 ${percentile(latencies, 99)} ms`);
      assert.ok(idle <= 20, `idle child used ${idle} ms of CPU in 5 s`);
    });

    it('after its child is killed, restarts and reports that changes may have been lost', async () => {
      const seen = drifts.length;
      const old = monitor.pid!;
      process.kill(old, 'SIGKILL');
      await waitFor(() => drifts.length > seen, { timeoutMs: 3000, intervalMs: 5, what: 'the restart report' });
      assert.equal(drifts[seen]!.drift.cause, 'lost');
      assert.notEqual(monitor.pid, old);
      const { drift } = await external(c.drifts[0]!);
      assert.equal(drift.cause, 'change');
      await netfilter.repair(desired);
    });
  });
}

/** The handle of the last rule of a chain of the agent's nft table. */
async function lastHandle(sh: (args: readonly string[]) => Promise<{ stdout: string }>, chain: string): Promise<string> {
  const { stdout } = await sh(['nft', '-a', 'list', 'chain', 'ip', 'ha_agent', chain]);
  const handles = [...stdout.matchAll(/# handle (\d+)$/gm)].map((m) => m[1]!);
  assert.ok(handles.length > 1, stdout);
  return handles.at(-1)!;
}
