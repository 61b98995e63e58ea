// leastconn, max_conns, per-farm limits and the connection log with real traffic, both drivers:
// connections held open on a backend steer new ones to the others (the load loop reading
// conntrack in the LB's namespace); a full backend takes none and, all full, the farm refuses at
// once; the rate, the established cap and their counters; one log line per new connection
// naming its backend, read from the NFLOG group by the agent's own reader.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../checks/clock.js';
import type { Config } from '../../config/schema.js';
import { ConntrackCli } from '../../agent/apply/conntrack.js';
import type { Netfilter } from '../../agent/apply/netfilter.js';
import { LoadBook, LoadLoop } from '../../agent/leastconn/loop.js';
import { createLogger } from '../../agent/log.js';
import { assignMarks, markKey } from '../../agent/plan/marks.js';
import { plan, type Health } from '../../agent/plan/plan.js';
import { createLab, singleLbTopology, backendIp, parseJsonLine, VIP, type Lab, type NsProcess } from '../netns/topology.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import { parsedConfig } from '../support/config.js';
import { repoPath } from '../support/repo.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';
import { DRIVERS, labNetfilter, type DriverName } from './drivers.js';

const HOLD = repoPath('test/datapath/fixtures/hold.py');
const READER = fileURLToPath(new URL('./connlog-reader.js', import.meta.url));

const farmYaml = (name: string, vip: string, extra: string, backends: string) => `  - name: ${name}
    vip: ${vip}
    ports: [8080, 9000]
    check: { type: none }
${extra}    backends:
${backends}`;
const backend = (i: number, extra = '') => `      - { name: b${i}, ip: ${backendIp(i)}${extra} }\n`;

/** A farm under test: its config, the rules it plans to with some backends down, the load book. */
class Farm {
  readonly config: Config;
  readonly marks: Map<string, number>;
  readonly book = new LoadBook();
  down = new Set<string>();

  constructor(yaml: string, private readonly netfilter: Netfilter) {
    this.config = parsedConfig(`node: { id: lb1 }\ndataplane: { log_group: 7 }\nfarms:\n${yaml}`);
    this.marks = assignMarks(this.config, { min: this.config.dataplane.mark_min, max: this.config.dataplane.mark_max });
  }

  async apply(): Promise<void> {
    const health = (f: string, b: string): Health => (this.down.has(markKey(f, b)) ? 'down' : 'up');
    const farms = new Map(this.config.farms.map((f) => [f.name, f]));
    await this.netfilter.sync(plan(this.config, this.marks, (f, b) => ({ health: health(f, b), ...this.book.view(farms.get(f)!, b) })));
  }

  /** The load loop as the daemon runs it, on this LB's conntrack, re-applying when loads change. */
  loop(lab: Lab): LoadLoop {
    let pending: Promise<void> = Promise.resolve();
    return new LoadLoop({
      target: { config: this.config, marks: this.marks, replan: () => { pending = pending.then(() => this.apply()); } },
      book: this.book, counter: new ConntrackCli(new NsRunner(lab.nsName('lb1'))), clock: systemClock, logger: createLogger('silent'),
    });
  }
}

for (const driver of DRIVERS) {
  describe(`leastconn, max_conns, limits and the connection log through the ${driver} driver`, needsRoot(), () => {
    let lab: Lab;
    let netfilter: Netfilter;
    const holders: NsProcess[] = [];

    /** Opens `count` connections to port 9000 and keeps them; resolves with where they landed. */
    const hold = async (count: number): Promise<{ counts: Record<string, number>; failures: number }> => {
      const p = lab.spawn('client', 'python3', [HOLD, 'client', '--target', `${VIP}:9000`, '--count', String(count)]);
      holders.push(p);
      return JSON.parse(await p.waitForLine(/^\{/, 30_000)) as { counts: Record<string, number>; failures: number };
    };
    const release = async () => {
      for (const p of holders.splice(0)) await p.stop();
    };
    const short = async (count: number, extra: string[] = []): Promise<ConnReport> => {
      const r = await lab.execFixture('client', 'conn-client', ['--target', `${VIP}:8080`, '--count', String(count), '--concurrency', '8', ...extra], { timeoutMs: 120_000 });
      return parseJsonLine<ConnReport>(r.stdout);
    };
    const counter = async (name: string, rateComment: string): Promise<number> => counterOf(lab, driver, name, rateComment);

    before(async () => {
      lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
      await lab.addAddress('lb1', 'front', `${VIP}/32`);
      for (let i = 1; i <= 3; i++) {
        await lab.serveName(`b${i}`);
        const server = lab.spawn(`b${i}`, 'python3', [HOLD, 'server', '--port', '9000', '--name', `b${i}`]);
        await server.waitForLine('listening', 10_000);
      }
      netfilter = labNetfilter(lab, 'lb1', driver);
      await netfilter.adopt();
    });
    after(async () => {
      await release();
      await netfilter?.removeAll().catch(() => undefined);
      await lab?.destroy();
    });

    it('leastconn: 30 connections held on b1 send new connections to b2 and b3', async () => {
      const farm = new Farm(farmYaml('lc', VIP, '    algorithm: leastconn\n', backend(1) + backend(2) + backend(3)), netfilter);
      farm.down = new Set(['lc/b2', 'lc/b3']);
      await farm.apply();
      const held = await hold(30);
      assert.deepEqual(held, { counts: { b1: 30 }, failures: 0 });
      farm.down.clear();
      await farm.apply();
      const before = await short(300);
      // Equal shares while no count was read: the loop is what moves them.
      assert.ok((before.counts.b1 ?? 0) > 60, `b1 before the counts: ${JSON.stringify(before.counts)}`);
      const loop = farm.loop(lab);
      await loop.tick();
      await farm.apply();
      const loads = farm.book.loads('lc');
      assert.ok(loads.get('b1')!.factor < 0.1 && loads.get('b2')!.factor === 1, JSON.stringify([...loads]));
      const after = await short(300);
      assert.equal(after.failures, 0, JSON.stringify(after.errors));
      assert.ok((after.counts.b1 ?? 0) < 30, `b1 after: ${JSON.stringify(after.counts)}`);
      assert.ok((after.counts.b2 ?? 0) > 100 && (after.counts.b3 ?? 0) > 100, `b2, b3 after: ${JSON.stringify(after.counts)}`);
      // A second read with the same counts changes nothing (hysteresis): no re-plan.
      let replans = 0;
      const again = new LoadLoop({ target: { config: farm.config, marks: farm.marks, replan: () => replans++ }, book: farm.book,
        counter: new ConntrackCli(new NsRunner(lab.nsName('lb1'))), clock: systemClock, logger: createLogger('silent') });
      await again.tick();
      assert.equal(replans, 0);
      await release();
    });

    it('max_conns: the kernel refuses past the cap at once; a full backend leaves the choice; all full refuses fast', async () => {
      // The caps count connections until they close (a closing one too): b2's is above what the
      // short connections at concurrency 8 hold at once.
      const farm = new Farm(farmYaml('mc', VIP, '', backend(1, ', max_conns: 5') + backend(2, ', max_conns: 20') + backend(3)), netfilter);
      farm.down = new Set(['mc/b2', 'mc/b3']);
      await farm.apply();
      assert.deepEqual(await hold(5), { counts: { b1: 5 }, failures: 0 });
      // Before any count is read, b1 is in the choice alone: the hard cap refuses the 6th.
      const refused = await short(20);
      assert.equal(refused.failures, 20, JSON.stringify(refused));
      assert.ok(await counter(`over_max_conns_mc_${farm.marks.get('mc/b1')!.toString(16)}`, 'FARM_mc_0_') >= 20);
      // b2 and b3 come up; the loop reads b1 full: new connections go to b2 and b3 only.
      farm.down.clear();
      await farm.loop(lab).tick();
      await farm.apply();
      const spread = await short(200);
      assert.equal(spread.failures, 0, JSON.stringify(spread));
      assert.equal(spread.counts.b1 ?? 0, 0, JSON.stringify([spread.counts, [...farm.book.loads('mc')]]));
      // b3 goes, b2 fills: all full is all down, refused fast (a reset, not a timeout).
      farm.down = new Set(['mc/b3']);
      await farm.apply();
      assert.deepEqual(await hold(20), { counts: { b2: 20 }, failures: 0 });
      await farm.loop(lab).tick();
      await farm.apply();
      const started = Date.now();
      const full = await short(10, ['--timeout-ms', '3000']);
      assert.equal(full.failures, 10, JSON.stringify(full));
      assert.deepEqual(Object.keys(full.errors), ['ECONNREFUSED']);
      assert.ok(Date.now() - started < 2500, 'refused at once');
      await release();
      // Fewer connections held: b1 and b2 are back in the choice on the next read (a second on:
      // the kernel's cap counts a connection until its close is through).
      await new Promise((r) => setTimeout(r, 1000));
      await farm.loop(lab).tick();
      await farm.apply();
      // Spaced out (20 ms apart): b1's cap of 5 also counts connections that are still closing,
      // and back-to-back ones left a few half-closed at once.
      const r = await lab.execFixture('client', 'conn-client', ['--target', `${VIP}:8080`, '--rate', '50', '--duration-ms', '600'], { timeoutMs: 60_000 });
      const back = parseJsonLine<ConnReport>(r.stdout);
      assert.equal(back.failures, 0, JSON.stringify(back));
      assert.ok((back.counts.b1 ?? 0) > 0 && (back.counts.b2 ?? 0) > 0, JSON.stringify(back.counts));
    });

    it('limits: the rate over its burst is refused and counted; the established cap refuses the next one', async () => {
      const farm = new Farm(farmYaml('lim', VIP, '    limits: { new_per_second: 5, burst: 20, established: 8 }\n', backend(1) + backend(2)), netfilter);
      await farm.apply();
      // The kernel reads back what was applied: limits, counters and all.
      assert.deepEqual((await netfilter.verify()).differences, []);
      const burst = await short(100, ['--concurrency', '1']);
      // The burst of 20 at once, then 5 a second for as long as the run took.
      const passed = 100 - burst.failures;
      assert.ok(passed >= 20 && passed <= 20 + 5 * Math.ceil(burst.durationMs / 1000) + 1, JSON.stringify(burst));
      assert.deepEqual(Object.keys(burst.errors), ['ECONNREFUSED']);
      assert.equal(await counter('over_rate_lim', 'FARM_lim_rate'), burst.failures);
      // Wait for the bucket to refill, then hold 8: the 9th is refused by the cap, not the rate.
      await new Promise((r) => setTimeout(r, 4000));
      assert.deepEqual((await hold(8)).failures, 0);
      const ninth = await hold(1);
      assert.equal(ninth.failures, 1);
      assert.ok(await counter('over_established_lim', 'FARM_lim_established') >= 1);
      await release();
    });

    it('limits with action drop: over the rate, connections time out instead of being refused', async () => {
      const farm = new Farm(farmYaml('drp', VIP, '    limits: { new_per_second: 1, burst: 3, action: drop }\n', backend(1)), netfilter);
      await farm.apply();
      const r = await short(10, ['--concurrency', '10', '--timeout-ms', '700']);
      assert.ok(r.failures >= 6, JSON.stringify(r));
      assert.deepEqual(Object.keys(r.errors), ['TIMEOUT']);
    });

    it('log: one JSON line per new connection, naming the backend its mark chose', async () => {
      const farm = new Farm(farmYaml('lg', VIP, '    log: true\n', backend(1) + backend(2)), netfilter);
      await farm.apply();
      assert.deepEqual((await netfilter.verify()).differences, []);
      const reader = lab.spawn('lb1', process.execPath, [READER, '7', JSON.stringify(Object.fromEntries(farm.marks))]);
      try {
        await reader.waitForLine('ready', 10_000);
        const r = await short(40, ['--concurrency', '4']);
        assert.equal(r.failures, 0);
        const deadline = Date.now() + 5000;
        const records = () => reader.lines.filter((l) => l.startsWith('{"farm"')).map((l) => JSON.parse(l) as Record<string, unknown>);
        while (records().length < 40 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
        const got = records();
        assert.equal(got.length, 40, reader.lines.slice(-5).join('\n') + reader.stderrLines.join('\n'));
        const perBackend: Record<string, number> = {};
        for (const rec of got) {
          assert.equal(rec.farm, 'lg');
          assert.equal(rec.vip, VIP);
          assert.equal(rec.port, 8080);
          assert.equal(rec.protocol, 'tcp');
          perBackend[String(rec.backend)] = (perBackend[String(rec.backend)] ?? 0) + 1;
        }
        // The log names the same backends that answered.
        assert.deepEqual(perBackend, r.counts);
      } finally {
        await reader.stop();
      }
    });
  });
}

/** What a named over-limit counter counted: nft's named counter, or the iptables rule's packets. */
async function counterOf(lab: Lab, driver: DriverName, nftName: string, comment: string): Promise<number> {
  if (driver === 'nftables') {
    const r = await lab.exec('lb1', 'nft', ['list', 'counter', 'ip', 'ha_agent', nftName]);
    return Number(/packets (\d+)/.exec(r.stdout)?.[1] ?? NaN);
  }
  const r = await lab.exec('lb1', 'iptables-save', ['-c', '-t', 'filter']);
  const line = r.stdout.split('\n').find((l) => l.includes(`--comment ${comment} `) && l.includes('-A HAL-'));
  return Number(/^\[(\d+):/.exec(line ?? '')?.[1] ?? NaN);
}
