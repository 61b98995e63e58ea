// Real packets through the applied rules in network namespaces: weighted shares (dnat, snat,
// udp) pass a chi-square test, and 300 re-applies under continuous load fail no connection.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { desiredState as desired } from '../support/config.js';
import { IptablesRestore } from '../../agent/apply/iptables.js';
import { createLab, singleLbTopology, labBackendsYaml, VIP, parseJsonLine, type Lab, type NsProcess } from '../netns/topology.js';
import { assertShares } from '../netns/stats.js';
import type { ConnReport, RateReport } from '../fixtures/bin/lib/types.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';

function farmYaml(opts: { mode: 'dnat' | 'snat'; protocol?: 'tcp' | 'udp'; weights: number[]; snatSource?: string }): string {
  return `node: { id: lb1 }
farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    protocol: ${opts.protocol ?? 'tcp'}
    mode: ${opts.mode}
${opts.snatSource ? `    snat_source: ${opts.snatSource}\n` : ''}    backends:
${labBackendsYaml(opts.weights)}
`;
}

async function startServers(lab: Lab, n: number, extra: string[] = []): Promise<NsProcess[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => lab.serveName(`b${i + 1}`, `b${i + 1}`, 8080, extra)));
}

async function connect(lab: Lab, args: string[]): Promise<ConnReport> {
  const r = await lab.execFixture('client', 'conn-client', args, { timeoutMs: 120_000 });
  return parseJsonLine<ConnReport>(r.stdout);
}

describe('iptables rules carry real traffic', needsRoot(), () => {
  describe('dnat mode (replies return by routing)', () => {
    let lab: Lab;
    let netfilter: IptablesRestore;
    before(async () => {
      lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
      await lab.addAddress('lb1', 'front', `${VIP}/32`);
      await startServers(lab, 3);
      await startServers(lab, 3, ['--udp']);
      netfilter = new IptablesRestore(new NsRunner(lab.nsName('lb1')));
      await netfilter.adopt();
    });
    after(() => lab?.destroy());

    it('1200 TCP connections to backends weighted 1:2:3 pass a chi-square test', async () => {
      await netfilter.sync(desired(farmYaml({ mode: 'dnat', weights: [1, 2, 3] })));
      const report = await connect(lab, ['--target', `${VIP}:80`, '--count', '1200', '--concurrency', '16']);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assertShares(report.counts, { b1: 1 / 6, b2: 2 / 6, b3: 3 / 6 });
    });

    it('UDP datagrams reach the backends by the same shares', async () => {
      await netfilter.sync(desired(farmYaml({ mode: 'dnat', protocol: 'udp', weights: [1, 2, 3] })));
      const report = await connect(lab, ['--udp', '--target', `${VIP}:80`, '--count', '1200', '--concurrency', '16']);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assertShares(report.counts, { b1: 1 / 6, b2: 2 / 6, b3: 3 / 6 });
    });

    it('UDP farm with no usable backend: datagrams are refused at once (ICMP port unreachable), not black-holed', async () => {
      const yaml = farmYaml({ mode: 'dnat', protocol: 'udp', weights: [1, 1, 1] });
      await netfilter.sync(desired(yaml, ['web/b1', 'web/b2', 'web/b3']));
      // Flows of the previous test may share a source port; the agent cuts the tracked flows of
      // backends that go down (cut_on_down), this test drives only the applier, so do it here.
      await lab.exec('lb1', 'conntrack', ['-D', '-p', 'udp'], { reject: false });
      const started = Date.now();
      const report = await connect(lab, ['--udp', '--target', `${VIP}:80`, '--count', '5', '--concurrency', '5', '--timeout-ms', '3000']);
      assert.equal(report.failures, 5);
      // A black hole would end in timeouts; the refusal is an error the client gets back.
      assert.ok(Object.keys(report.errors).every((e) => /ECONNREFUSED/.test(e)), JSON.stringify(report.errors));
      assert.ok(Date.now() - started < 3000, `refusal took ${Date.now() - started} ms`);
    });

    it('300 re-applies alternating two backend sets under >= 200 new connections/s: 0 failures, each on a backend active then', async () => {
      const setA = ['b1', 'b2'];
      const setB = ['b2', 'b3'];
      const yaml = farmYaml({ mode: 'dnat', weights: [1, 1, 1] });
      const stateA = desired(yaml, ['web/b3']);
      const stateB = desired(yaml, ['web/b1']);
      await netfilter.sync(stateA);
      const client = lab.spawnFixture('client', 'conn-client', ['--target', `${VIP}:80`, '--rate', '300', '--duration-ms', '60000', '--timeout-ms', '3000']);
      const windows: { from: number; to: number; set: string[] }[] = [{ from: 0, to: Date.now(), set: setA }];
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < 300; i++) {
        const next = i % 2 === 0 ? stateB : stateA;
        const from = Date.now();
        const result = await netfilter.sync(next);
        assert.ok(result.changed);
        windows.push({ from, to: Date.now(), set: i % 2 === 0 ? setB : setA });
      }
      await new Promise((r) => setTimeout(r, 300));
      client.kill('SIGTERM');
      await client.wait(10_000);
      const report = parseJsonLine<RateReport>(client.lines.join('\n'));
      const during = report.records.filter((r) => r.start >= windows[1]!.from && r.start <= windows.at(-1)!.to);
      const seconds = (windows.at(-1)!.to - windows[1]!.from) / 1000;
      assert.ok(during.length / seconds >= 200, `only ${(during.length / seconds).toFixed(0)} connections/s`);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      for (const record of report.records) {
        // Which sets could have been in the kernel while this connection's SYN was in flight.
        const end = record.start + record.ms;
        const possible = new Set<string>();
        windows.forEach((w, k) => {
          const until = windows[k + 1]?.to ?? Infinity;
          if (w.from <= end && until >= record.start) w.set.forEach((b) => possible.add(b));
        });
        assert.ok(possible.has(record.backend!), `connection at ${record.start} landed on ${record.backend}, sets then: ${[...possible]}`);
      }
    });
  });

  describe('snat mode (backends have no route to the client; replies return through conntrack)', () => {
    let lab: Lab;
    let netfilter: IptablesRestore;
    let servers: NsProcess[];
    const peersSeen = (since: number[]) => new Set(servers.flatMap((s, i) => s.lines.slice(since[i]).filter((l) => l.startsWith('peer ')).map((l) => l.slice(5))));
    const mark = () => servers.map((s) => s.lines.length);
    before(async () => {
      lab = await createLab(singleLbTopology({ backends: 3, mode: 'snat' }));
      await lab.addAddress('lb1', 'front', `${VIP}/32`);
      servers = await startServers(lab, 3, ['--report-peers']);
      netfilter = new IptablesRestore(new NsRunner(lab.nsName('lb1')));
      await netfilter.adopt();
    });
    after(() => lab?.destroy());

    it('1200 connections weighted 1:2:3 pass, and the backends see the configured snat_source', async () => {
      const since = mark();
      await netfilter.sync(desired(farmYaml({ mode: 'snat', weights: [1, 2, 3], snatSource: '10.2.0.1' })));
      const report = await connect(lab, ['--target', `${VIP}:80`, '--count', '1200', '--concurrency', '16']);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assertShares(report.counts, { b1: 1 / 6, b2: 2 / 6, b3: 3 / 6 });
      assert.deepEqual([...peersSeen(since)], ['10.2.0.1']);
    });

    it('snat_source: masquerade makes the backends see the LB back address', async () => {
      const since = mark();
      await netfilter.sync(desired(farmYaml({ mode: 'snat', weights: [1, 1, 1], snatSource: 'masquerade' })));
      const report = await connect(lab, ['--target', `${VIP}:80`, '--count', '60', '--concurrency', '6']);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assert.deepEqual([...peersSeen(since)], ['10.2.0.1']);
    });

    it("snat_source: vip (the seed's default) when the backends can reach the VIP but not the client", async () => {
      for (let i = 1; i <= 3; i++) await lab.setRoute(`b${i}`, { to: `${VIP}/32`, via: '10.2.0.1' });
      const since = mark();
      await netfilter.sync(desired(farmYaml({ mode: 'snat', weights: [1, 1, 1] })));
      const report = await connect(lab, ['--target', `${VIP}:80`, '--count', '60', '--concurrency', '6']);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assert.deepEqual([...peersSeen(since)], [VIP]);
    });

    it('without the SNAT rules (dnat mode) the same backends cannot answer: the test measures something', async () => {
      await netfilter.sync(desired(farmYaml({ mode: 'dnat', weights: [1, 1, 1] })));
      const report = await connect(lab, ['--target', `${VIP}:80`, '--count', '6', '--concurrency', '6', '--timeout-ms', '500']);
      assert.equal(report.failures, 6);
    });
  });
});
