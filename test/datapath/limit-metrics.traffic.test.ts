// The over-limit metrics against the real kernel, both drivers: connections refused over a farm's
// rate and over a backend's max_conns make the Prometheus counters rise by exactly the number the
// client saw refused, read through the agent's own reader (one command per scrape) in the LB's
// namespace; re-applying the farm does not make them go back.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { Config } from '../../config/schema.js';
import { KernelLimitCounters } from '../../agent/apply/kernel-counters.js';
import type { Netfilter } from '../../agent/apply/netfilter.js';
import type { RunOptions, RunResult, Runner } from '../../agent/apply/runner.js';
import { BACKEND_FULL, FARM_LIMITED, registerLimitMetrics } from '../../agent/metrics/kernel-counters.js';
import { assignMarks, markKey } from '../../agent/plan/marks.js';
import { plan, type DesiredState } from '../../agent/plan/plan.js';
import { createLab, singleLbTopology, backendIp, parseJsonLine, VIP, type Lab, type NsProcess } from '../netns/topology.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import { parsedConfig } from '../support/config.js';
import { repoPath } from '../support/repo.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';
import { parsePrometheusText, valueOf } from '../metrics/prom-text.js';
import { DRIVERS, labNetfilter } from './drivers.js';

const HOLD = repoPath('test/datapath/fixtures/hold.py');

const farmConfig = (name: string, extra: string, backends: string): Config => parsedConfig(`node: { id: lb1 }
farms:
  - name: ${name}
    vip: ${VIP}
    ports: [8080, 9000]
    check: { type: none }
${extra}    backends:
${backends}`);
const backend = (i: number, extra = '') => `      - { name: b${i}, ip: ${backendIp(i)}${extra} }\n`;

/** Counts the commands the reader runs. */
class CountingRunner implements Runner {
  commands = 0;
  constructor(private readonly inner: Runner) {}
  run(command: string, args: readonly string[], options?: RunOptions): Promise<RunResult> {
    this.commands++;
    return this.inner.run(command, args, options);
  }
}

for (const driver of DRIVERS) {
  describe(`over-limit metrics through the ${driver} driver`, needsRoot(), () => {
    let lab: Lab;
    let netfilter: Netfilter;
    let runner: CountingRunner;
    let desired: DesiredState;
    const registry = new Registry();
    const holders: NsProcess[] = [];

    const apply = async (config: Config, down: readonly string[] = []) => {
      const marks = assignMarks(config, { min: config.dataplane.mark_min, max: config.dataplane.mark_max });
      desired = plan(config, marks, (f, b) => ({ health: down.includes(markKey(f, b)) ? 'down' : 'up', admin: 'enabled' }));
      await netfilter.sync(desired);
    };
    const scrape = async () => parsePrometheusText(await registry.metrics());
    const short = async (count: number): Promise<ConnReport> => {
      const r = await lab.execFixture('client', 'conn-client', ['--target', `${VIP}:8080`, '--count', String(count), '--concurrency', '1'], { timeoutMs: 120_000 });
      return parseJsonLine<ConnReport>(r.stdout);
    };

    before(async () => {
      lab = await createLab(singleLbTopology({ backends: 2, mode: 'dnat' }));
      await lab.addAddress('lb1', 'front', `${VIP}/32`);
      for (let i = 1; i <= 2; i++) {
        await lab.serveName(`b${i}`);
        const server = lab.spawn(`b${i}`, 'python3', [HOLD, 'server', '--port', '9000', '--name', `b${i}`]);
        await server.waitForLine('listening', 10_000);
      }
      netfilter = labNetfilter(lab, 'lb1', driver);
      await netfilter.adopt();
      runner = new CountingRunner(new NsRunner(lab.nsName('lb1')));
      const reader = new KernelLimitCounters(runner, driver);
      // No cache: each scrape here must see the kernel as it is now.
      registerLimitMetrics(registry, { read: () => reader.read(desired), cacheMs: 0 });
    });
    after(async () => {
      for (const p of holders.splice(0)) await p.stop();
      await netfilter?.removeAll().catch(() => undefined);
      await lab?.destroy();
    });

    it('the rate limit: the farm counter rises by the connections refused, and stays across a re-apply', async () => {
      await apply(farmConfig('rl', '    limits: { new_per_second: 5, burst: 20 }\n', backend(1) + backend(2)));
      const labels = { farm: 'rl', limit: 'new_per_second', action: 'reject' };
      const commands = runner.commands;
      const before = valueOf(await scrape(), FARM_LIMITED, labels);
      assert.equal(runner.commands - commands, 1, 'one kernel read for both metrics');
      assert.equal(before, 0);
      const burst = await short(100);
      assert.ok(burst.failures >= 50, JSON.stringify(burst));
      assert.deepEqual(Object.keys(burst.errors), ['ECONNREFUSED']);
      const afterBurst = await scrape();
      assert.equal(valueOf(afterBurst, FARM_LIMITED, labels) - before, burst.failures);
      // No max_conns in this farm: no backend series.
      assert.deepEqual(afterBurst.get(BACKEND_FULL)!.samples, []);
      // The burst changed and a backend down: the farm's limit rule is rewritten (iptables: its
      // counter starts again from zero; nft keeps the named counter); what was counted stays counted.
      await apply(farmConfig('rl', '    limits: { new_per_second: 5, burst: 21 }\n', backend(1) + backend(2)), ['rl/b2']);
      const again = await short(60);
      assert.ok(again.failures > 0, JSON.stringify(again));
      const total = valueOf(await scrape(), FARM_LIMITED, labels);
      const kernel = (await new KernelLimitCounters(runner, driver).read(desired)).farms[0]!.refused;
      console.log(`# ${driver}: rate limit refused ${burst.failures}/100 then ${again.failures}/60; metric ${total}, kernel counter ${kernel}`);
      assert.equal(total, burst.failures + again.failures);
      if (driver === 'iptables') assert.equal(kernel, again.failures);
    });

    it('max_conns: the backend counter rises by the connections refused at its cap', async () => {
      await apply(farmConfig('mc', '', backend(1, ', max_conns: 4') + backend(2)), ['mc/b2']);
      const labels = { farm: 'mc', backend: 'b1' };
      const before = valueOf(await scrape(), BACKEND_FULL, labels);
      const p = lab.spawn('client', 'python3', [HOLD, 'client', '--target', `${VIP}:9000`, '--count', '4']);
      holders.push(p);
      const held = JSON.parse(await p.waitForLine(/^\{/, 30_000)) as { counts: Record<string, number>; failures: number };
      assert.deepEqual(held, { counts: { b1: 4 }, failures: 0 });
      const refused = await short(25);
      assert.equal(refused.failures, 25, JSON.stringify(refused));
      const after = await scrape();
      assert.equal(valueOf(after, BACKEND_FULL, labels) - before, 25);
      // The farm has no limits of its own: no farm series.
      assert.deepEqual(after.get(FARM_LIMITED)!.samples, []);
      console.log(`# ${driver}: max_conns refused ${refused.failures}/25; metric rose ${valueOf(after, BACKEND_FULL, labels) - before}`);
    });
  });
}
