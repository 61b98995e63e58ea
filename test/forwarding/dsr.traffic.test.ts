// Real packets through a dsr farm in network namespaces, both drivers: the MARK chain hashes
// every packet (no conntrack on the LB), the kernel routes it by mark to the backend unchanged
// (the backend listens on the VIP only, so a rewritten packet would be refused), shares follow
// the weights, a backend that goes down moves only its own flows, all down is refused fast, and
// a restarted agent adopts the rules and routes and removes stale ones.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { desiredState as desired } from '../support/config.js';
import { createLab, singleLbTopology, backendIp, CLIENT_IP, parseJsonLine, sleep, type Lab, type NsProcess } from '../netns/topology.js';
import { assertShares } from '../netns/stats.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';
import { streamReport } from '../support/streams.js';
import { DRIVERS, labNetfilter } from '../datapath/drivers.js';
import { RoutedNetfilter } from '../../agent/apply/route-netfilter.js';
import { ROUTE_RULE_PREF, ROUTE_TABLE_BASE } from '../../agent/route/plan.js';

/** Not on the client's subnet: the client reaches it through the LB, as behind a router. */
const VIP = '10.60.0.100';

function farmYaml(weights: readonly number[]): string {
  return `node: { id: lb1 }
farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    mode: dsr
    algorithm: hash-5tuple
    check: { type: none }
    backends:
${weights.map((w, i) => `      - { name: b${i + 1}, ip: ${backendIp(i + 1)}, weight: ${w} }`).join('\n')}
`;
}

for (const driver of DRIVERS) {
  describe(`dsr through ${driver}`, needsRoot(), () => {
    let lab: Lab;
    let netfilter: RoutedNetfilter;
    const servers: NsProcess[] = [];
    const lb = () => new NsRunner(lab.nsName('lb1'));
    const connect = async (count: number): Promise<ConnReport> => {
      const r = await lab.execFixture('client', 'conn-client', ['--target', `${VIP}:80`, '--count', String(count), '--concurrency', '16', '--timeout-ms', '1500'], { timeoutMs: 120_000 });
      return parseJsonLine<ConnReport>(r.stdout);
    };
    const vipConntrack = async (): Promise<string[]> => {
      const r = await lb().run('conntrack', ['-L']);
      return `${r.stdout}`.split('\n').filter((l) => l.includes(VIP));
    };

    before(async () => {
      // Backends route via the LB (its back address), so replies cross it too: both directions
      // must stay out of its conntrack.
      lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
      for (const i of [1, 2, 3]) {
        const b = `b${i}`;
        // What a dsr backend needs: the VIP on lo, and no ARP answers for it on the wire.
        await lab.exec(b, 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
        await lab.exec(b, 'sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
        servers.push(await lab.serveName(b, b, 80, ['--host', VIP]));
      }
      // The LB knows the VIP only as a route back towards the clients (its router, in production):
      // a packet with no backend's mark is forwarded there, where the reject chain meets it.
      await lab.exec('lb1', 'ip', ['route', 'add', `${VIP}/32`, 'via', CLIENT_IP]);
      netfilter = new RoutedNetfilter(labNetfilter(lab, 'lb1', driver), lb());
      await netfilter.adopt();
    });
    after(async () => {
      await netfilter?.removeAll().catch(() => undefined);
      await lab?.destroy();
    });

    it('1200 connections reach backends weighted 1:2:3, to the VIP unchanged, with no conntrack entry on the LB', async () => {
      await netfilter.sync(desired(farmYaml([1, 2, 3])));
      const report = await connect(1200);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assertShares(report.counts, { b1: 1 / 6, b2: 2 / 6, b3: 3 / 6 });
      assert.deepEqual(await vipConntrack(), []);
      const rules = await lb().run('ip', ['rule', 'show', 'pref', String(ROUTE_RULE_PREF)]);
      assert.equal(rules.stdout.trim().split('\n').length, 3, rules.stdout);
      assert.deepEqual(await netfilter.verify(), { inSync: true, differences: [] });
    });

    it('a backend going down moves only its own flows; the others carry on', async () => {
      await netfilter.sync(desired(farmYaml([1, 2, 3])));
      const stream = lab.spawnFixture('client', 'stream-client', ['--target', `${VIP}:80`, '--count', '60', '--interval-ms', '50', '--timeout-ms', '1500']);
      try {
        await stream.waitForLine('ready 60', 10_000);
        const before = await streamReport(stream);
        assert.ok(before.connections.every((c) => c.ok), JSON.stringify(before.connections.filter((c) => !c.ok)));
        await netfilter.sync(desired(farmYaml([1, 2, 3]), ['web/b3']), new Set(['web']));
        await sleep(2500);
        const after = await streamReport(stream);
        const others = after.connections.filter((c) => c.backend !== 'b3');
        const onB3 = after.connections.filter((c) => c.backend === 'b3');
        assert.ok(others.length > 0 && onB3.length > 0, JSON.stringify(after.connections.map((c) => c.backend)));
        assert.deepEqual(others.filter((c) => !c.ok).map((c) => c.error), [], 'streams to b1 and b2 all carry on');
        // b3's buckets now lead to b1/b2, which know nothing of those connections and reset them.
        assert.ok(onB3.every((c) => !c.ok), 'streams to b3 moved (and were reset)');
        const fresh = await connect(300);
        assert.equal(fresh.failures, 0, JSON.stringify(fresh.errors));
        assert.equal(fresh.counts.b3 ?? 0, 0);
      } finally {
        await stream.stop(1000);
      }
    });

    it('all backends down: new connections are refused fast (a reset, without conntrack)', async () => {
      await netfilter.sync(desired(farmYaml([1, 2, 3]), ['web/b1', 'web/b2', 'web/b3']), new Set(['web']));
      const started = Date.now();
      const report = await connect(20);
      assert.equal(report.failures, 20);
      assert.deepEqual(Object.keys(report.errors), ['ECONNREFUSED'], JSON.stringify(report.errors));
      assert.ok(Date.now() - started < 5000, 'refused, not timed out');
      assert.deepEqual(await vipConntrack(), []);
    });

    it('a restarted agent adopts rules and routes without a change, and removes stale ones', async () => {
      await netfilter.sync(desired(farmYaml([1, 2, 3])));
      // A table and rule of a backend an earlier run had, no longer configured.
      const staleTable = String(ROUTE_TABLE_BASE + 0x1ff);
      await lab.exec('lb1', 'ip', ['route', 'add', 'default', 'via', backendIp(9), 'table', staleTable, 'onlink', 'dev', lab.iface('lb1', 'back')]);
      await lab.exec('lb1', 'ip', ['rule', 'add', 'pref', String(ROUTE_RULE_PREF), 'fwmark', '0x1ff/0x3fff', 'lookup', staleTable]);
      const stream = lab.spawnFixture('client', 'stream-client', ['--target', `${VIP}:80`, '--count', '30', '--interval-ms', '50', '--timeout-ms', '1500']);
      try {
        await stream.waitForLine('ready 30', 10_000);
        const restarted = new RoutedNetfilter(labNetfilter(lab, 'lb1', driver), lb());
        await restarted.adopt();
        const result = await restarted.sync(desired(farmYaml([1, 2, 3])));
        assert.deepEqual(result.rewritten.filter((r) => !r.startsWith('routes')), [], 'netfilter adopted as it was');
        assert.deepEqual(result.rewritten.filter((r) => r.startsWith('routes')), ['routes (2 ip -batch lines)'], 'only the stale rule and table removed');
        const tables = await lb().run('ip', ['route', 'show', 'table', staleTable]);
        assert.equal(tables.stdout.trim(), '');
        await sleep(500);
        const report = await streamReport(stream);
        assert.deepEqual(report.connections.filter((c) => !c.ok).map((c) => c.error), [], 'no stream noticed the restart');
        netfilter = restarted;
        assert.deepEqual(await netfilter.verify(), { inSync: true, differences: [] });
      } finally {
        await stream.stop(1000);
      }
    });

    it('a backend removed from the config loses its rule and table', async () => {
      await netfilter.sync(desired(farmYaml([1, 2])));
      const rules = await lb().run('ip', ['rule', 'show', 'pref', String(ROUTE_RULE_PREF)]);
      assert.equal(rules.stdout.trim().split('\n').length, 2, rules.stdout);
      const report = await connect(200);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assert.equal(report.counts.b3 ?? 0, 0);
      void servers;
    });
  });
}
