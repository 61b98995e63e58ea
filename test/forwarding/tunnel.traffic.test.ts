// Tunnel farms on this kernel, in network namespaces, both drivers. What the kernel offers is read
// from its own config (/proc/config.gz; without it, from the kernel's answer to making a device in
// a lab namespace), and the test asserts what follows from it:
// - no CONFIG_NET_IPIP / CONFIG_IPV6_TUNNEL: the farm is refused naming the option, and nothing of
//   it (rules, tables, tunnel device, probe device) is left in the LB's namespace;
// - IPIP built: real packets, encapsulated by the LB to backends that decapsulate on tunl0 and
//   answer the client directly from the VIP on lo; shares follow the weights, no conntrack entry.
//   (ip6ip6 built: the device is made and the farm applied; IPv6 traffic is covered by dsr6.)
// One line says which branch ran.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { desiredState as desired } from '../support/config.js';
import { createLab, singleLbTopology, backendIp, CLIENT_IP, parseJsonLine, type Lab } from '../netns/topology.js';
import { assertShares } from '../netns/stats.js';
import type { ConnReport } from '../fixtures/bin/lib/types.js';
import { NsRunner } from '../support/ns-runner.js';
import { needsRoot } from '../support/root.js';
import { DRIVERS, labNetfilter } from '../datapath/drivers.js';
import { RoutedNetfilter } from '../../agent/apply/route-netfilter.js';
import { ROUTE_RULE_PREF, TUNNEL_DEVICE } from '../../agent/route/plan.js';
import { PROBE_DEVICE } from '../../agent/route/tunnel-probe.js';

const VIP = '10.60.0.100';
const VIP6 = 'fd00:60::102';

const farmYaml = (weights: readonly number[]): string => `node: { id: lb1 }
farms:
  - name: far
    vip: ${VIP}
    ports: [80]
    mode: tunnel
    algorithm: hash-5tuple
    check: { type: none }
    backends:
${weights.map((w, i) => `      - { name: b${i + 1}, ip: ${backendIp(i + 1)}, weight: ${w} }`).join('\n')}
`;
const farm6Yaml = `node: { id: lb1 }
farms:
  - name: far6
    vip: "${VIP6}"
    ports: [80]
    mode: tunnel
    algorithm: hash-5tuple
    check: { type: none }
    backends: [{ name: b1, ip: "2001:db8::11" }]
`;

/** CONFIG_X from the running kernel's config: true (y or m), false (not set), undefined (no config). */
async function kernelOption(option: string): Promise<boolean | undefined> {
  const gz = await readFile('/proc/config.gz').catch(() => undefined);
  if (!gz) return undefined;
  const text = gunzipSync(gz).toString();
  if (new RegExp(`^${option}=[ym]$`, 'm').test(text)) return true;
  return false;
}

/** Without /proc/config.gz: the kernel's own answer in a lab namespace. */
async function canMake(lab: Lab, type: readonly string[]): Promise<boolean> {
  const r = await new NsRunner(lab.nsName('lb1')).run('ip', ['link', 'add', 'oracle0', 'type', ...type]);
  if (r.exitCode !== 0) return false;
  await lab.exec('lb1', 'ip', ['link', 'del', 'oracle0']);
  return true;
}

for (const driver of DRIVERS) {
  describe(`tunnel through ${driver}`, needsRoot(), () => {
    let lab: Lab;
    let netfilter: RoutedNetfilter;
    let ipip = false;
    let ip6ip6 = false;
    const lb = () => new NsRunner(lab.nsName('lb1'));
    const links = async (): Promise<string[]> => (JSON.parse((await lb().run('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string }[]).map((l) => l.ifname);

    before(async () => {
      lab = await createLab(singleLbTopology({ backends: 3, mode: 'dnat' }));
      ipip = (await kernelOption('CONFIG_NET_IPIP')) ?? await canMake(lab, ['ipip', 'external']);
      ip6ip6 = (await kernelOption('CONFIG_IPV6_TUNNEL')) ?? await canMake(lab, ['ip6tnl', 'mode', 'ip6ip6', 'external']);
      console.log(`tunnel.traffic (${driver}): this kernel ${ipip ? 'has' : 'has no'} IPIP and ${ip6ip6 ? 'has' : 'has no'} ip6ip6: ` +
        `running the ${ipip ? 'IPv4 traffic' : 'IPv4 refusal'} and ${ip6ip6 ? 'IPv6 device' : 'IPv6 refusal'} branches`);
      await lab.exec('lb1', 'ip', ['route', 'add', `${VIP}/32`, 'via', CLIENT_IP]);
      netfilter = new RoutedNetfilter(labNetfilter(lab, 'lb1', driver), lb());
      await netfilter.adopt();
    });
    after(async () => {
      await netfilter?.removeAll().catch(() => undefined);
      await lab?.destroy();
    });

    it('IPv4: refused naming CONFIG_NET_IPIP, nothing left behind; or carried through IPIP to the backends', async () => {
      if (!ipip) {
        await assert.rejects(netfilter.sync(desired(farmYaml([1, 2, 3]))),
          /refusing farm far \(mode tunnel\): this kernel has no IPIP tunnel support \(CONFIG_NET_IPIP: .*Unknown device type\); use mode dsr or a kernel with ipip/);
        const names = await links();
        assert.ok(!names.includes(TUNNEL_DEVICE.ipv4) && !names.includes(PROBE_DEVICE.ipv4), names.join(' '));
        const rules = await lb().run('ip', ['rule', 'show', 'pref', String(ROUTE_RULE_PREF)]);
        assert.equal(rules.stdout.trim(), '');
        assert.equal(netfilter.appliedText().includes(VIP), false, 'no rules of the farm applied');
        return;
      }
      await netfilter.sync(desired(farmYaml([1, 2, 3])));
      assert.ok((await links()).includes(TUNNEL_DEVICE.ipv4));
      // The LB's ha-ipip loaded the ipip module, which gives every namespace its fallback tunl0:
      // up on a backend, it takes in any IPIP packet addressed to it. The inner packet comes in on
      // tunl0 from the client, whose route is out of eth: loose reverse-path filtering.
      for (const i of [1, 2, 3]) {
        const b = `b${i}`;
        await lab.exec(b, 'ip', ['addr', 'add', `${VIP}/32`, 'dev', 'lo']);
        await lab.exec(b, 'sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.tunl0.rp_filter=0']);
        await lab.exec(b, 'ip', ['link', 'set', 'tunl0', 'up']);
        await lab.serveName(b, b, 80, ['--host', VIP]);
      }
      const r = await lab.execFixture('client', 'conn-client', ['--target', `${VIP}:80`, '--count', '600', '--concurrency', '16', '--timeout-ms', '1500'], { timeoutMs: 120_000 });
      const report = parseJsonLine<ConnReport>(r.stdout);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
      assertShares(report.counts, { b1: 1 / 6, b2: 2 / 6, b3: 3 / 6 });
      const conntrack = await lb().run('conntrack', ['-L']);
      assert.deepEqual(`${conntrack.stdout}`.split('\n').filter((l) => l.includes(VIP)), []);
      assert.deepEqual(await netfilter.verify(), { inSync: true, differences: [] });
      await netfilter.sync(desired(farmYaml([1, 2, 3]).replace('mode: tunnel', 'mode: dsr')));
      assert.ok(!(await links()).includes(TUNNEL_DEVICE.ipv4), 'the device goes with the last tunnel farm');
    });

    it('IPv6: refused naming CONFIG_IPV6_TUNNEL, nothing left behind; or the ip6ip6 device made', async () => {
      if (!ip6ip6) {
        await assert.rejects(netfilter.sync(desired(farm6Yaml)),
          /refusing farm far6 \(mode tunnel\): this kernel has no ip6ip6 tunnel support \(CONFIG_IPV6_TUNNEL: .*Unknown device type\); use mode dsr or a kernel with ip6_tunnel/);
        const names = await links();
        assert.ok(!names.includes(TUNNEL_DEVICE.ipv6) && !names.includes(PROBE_DEVICE.ipv6), names.join(' '));
        const rules = await lb().run('ip', ['-6', 'rule', 'show', 'pref', String(ROUTE_RULE_PREF)]);
        assert.equal(rules.stdout.trim(), '');
        return;
      }
      await netfilter.sync(desired(farm6Yaml));
      const names = await links();
      assert.ok(names.includes(TUNNEL_DEVICE.ipv6) && !names.includes(PROBE_DEVICE.ipv6), names.join(' '));
      assert.deepEqual(await netfilter.verify(), { inSync: true, differences: [] });
    });
  });
}
