// Tunnel farms on a kernel without the family's tunnel device type, through the engine and a
// fake runner: start-up and reload are refused naming the farm and the kernel option, nothing
// reaches the kernel (no route batch, no netfilter transaction), the running state stays, and
// the probe runs once. A kernel with the device type, or a device already there, applies as before.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../agent/engine/engine.js';
import { FakeNetfilter } from '../../agent/apply/netfilter.fake.js';
import { FakeRunner, type RecordedCall } from '../../agent/apply/runner.fake.js';
import type { RunResult } from '../../agent/apply/runner.js';
import { RoutedNetfilter } from '../../agent/apply/route-netfilter.js';
import { PROBE_DEVICE, TunnelProbe, tunnelSupport } from '../../agent/route/tunnel-probe.js';
import { silentLogger } from '../../agent/log.js';
import { parsedConfig } from '../support/config.js';

const DNAT = `node: { id: lb1 }
farms:
  - name: web
    vip: 10.60.0.100
    ports: [80]
    check: { type: none }
    backends: [{ name: w1, ip: 10.2.0.11, port: 80 }]
`;
const tunnelFarm = (name: string, vip: string, ip: string) => `  - name: ${name}
    vip: ${vip}
    ports: [80]
    mode: tunnel
    algorithm: hash-5tuple
    check: { type: none }
    backends: [{ name: ${name}1, ip: ${ip} }]
`;
const TUNNEL = `${DNAT}${tunnelFarm('far', '10.60.0.102', '192.0.2.11')}`;
const TUNNEL6 = `${DNAT}${tunnelFarm('far6', 'fd00:60::102', '2001:db8::11')}`;

const isProbe = (call: RecordedCall) => Boolean(call.input?.includes('-probe'));
const isApply = (call: RecordedCall) => call.args.includes('-batch') && !isProbe(call);

/** A kernel as `ip` sees it: with or without the tunnel types, and whether ha-ipip is there. */
function kernel(opts: { ipip: boolean; device?: boolean; probe?: Partial<RunResult> }) {
  return new FakeRunner((call) => {
    if (isProbe(call) && opts.probe) return opts.probe;
    if (isProbe(call) && !opts.ipip) return { exitCode: 1, stderr: 'Error: Unknown device type.\nCommand failed -:1\n' };
    if (call.args.includes('link') && call.args.includes('show')) return opts.device ? { stdout: '[{"ifname":"ha-ipip"}]' } : { exitCode: 1, stderr: 'Device "ha-ipip" does not exist.' };
    if (call.args.includes('rule')) return { stdout: '[]' };
    return undefined;
  });
}

function setup(runner: FakeRunner) {
  const inner = new FakeNetfilter('nftables');
  const warnings: string[] = [];
  const netfilter = new RoutedNetfilter(inner, runner, { warn: (m) => void warnings.push(m) });
  const engine = new Engine({
    netfilter, conntrack: { cut: async () => 0 }, logger: silentLogger, now: Date.now, persist: async () => undefined, coalesceMs: 1, retryMs: 60_000,
  });
  return { engine, inner, netfilter, warnings };
}

const farmsApplied = (inner: FakeNetfilter) => inner.syncs.at(-1)!.desired.farms.map((f) => f.name);

describe('tunnel farms on a kernel without ipip / ip6ip6', () => {
  it('a reload is refused naming the farm and CONFIG_NET_IPIP; the running state stays; the probe runs once', async () => {
    const runner = kernel({ ipip: false });
    const { engine, inner, netfilter } = setup(runner);
    await netfilter.adopt();
    await engine.start(parsedConfig(DNAT), new Map(), new Map());
    assert.equal(runner.calls.filter(isProbe).length, 0, 'no tunnel farm: no probe');
    const syncs = inner.syncs.length;
    const batches = runner.calls.filter(isApply).length;
    const refusal = /refusing farm far \(mode tunnel\): this kernel has no IPIP tunnel support \(CONFIG_NET_IPIP: "ip link add type ipip external" says Unknown device type\); use mode dsr or a kernel with ipip$/;
    await assert.rejects(engine.reload(parsedConfig(TUNNEL)), refusal);
    assert.equal(inner.syncs.length, syncs, 'no netfilter transaction');
    assert.equal(runner.calls.filter(isApply).length, batches, 'no route batch');
    assert.match(engine.dataplane.lastError!, new RegExp(`^${refusal.source}`));
    await assert.rejects(engine.requestSync(['far']), /refusing farm far/);
    assert.equal(runner.calls.filter(isProbe).length, 1);
    assert.deepEqual(runner.calls.find(isProbe)!.input, `link add ${PROBE_DEVICE.ipv4} type ipip external\nlink del ${PROBE_DEVICE.ipv4}\n`);
    await engine.reload(parsedConfig(DNAT));
    assert.equal(engine.dataplane.lastError, null);
    assert.deepEqual(farmsApplied(inner), ['web']);
    await engine.stop();
  });

  it('at start-up: the first apply is refused; IPv6 names CONFIG_IPV6_TUNNEL', async () => {
    const runner = kernel({ ipip: false });
    const { engine, inner, netfilter } = setup(runner);
    await netfilter.adopt();
    await assert.rejects(engine.start(parsedConfig(TUNNEL6), new Map(), new Map()),
      /ApplyError: refusing farm far6 \(mode tunnel\): this kernel has no ip6ip6 tunnel support \(CONFIG_IPV6_TUNNEL: "ip link add type ip6tnl mode ip6ip6 external" says Unknown device type\); use mode dsr or a kernel with ip6_tunnel$/);
    assert.equal(inner.syncs.length, 0);
    assert.equal(runner.calls.filter(isApply).length, 0);
    await engine.stop();
  });

  it('applies where the kernel has ipip (probed once), where ha-ipip is already there (no probe), and with a warning where the probe cannot tell', async () => {
    const supported = kernel({ ipip: true });
    const a = setup(supported);
    await a.netfilter.adopt();
    await a.engine.start(parsedConfig(TUNNEL), new Map(), new Map());
    assert.equal(a.engine.dataplane.lastError, null);
    assert.deepEqual(farmsApplied(a.inner), ['web', 'far']);
    assert.match(supported.calls.filter(isApply)[0]!.input!, /^link add ha-ipip type ipip external\n/);
    await a.engine.reload(parsedConfig(`${TUNNEL}${tunnelFarm('far2', '10.60.0.103', '192.0.2.12')}`));
    assert.equal(supported.calls.filter(isProbe).length, 1);
    await a.engine.stop();

    const adopted = kernel({ ipip: false, device: true });
    const b = setup(adopted);
    await b.netfilter.adopt();
    await b.engine.start(parsedConfig(TUNNEL), new Map(), new Map());
    assert.equal(b.engine.dataplane.lastError, null);
    assert.equal(adopted.calls.filter(isProbe).length, 0);
    await b.engine.stop();

    const undecided = kernel({ ipip: false, probe: { exitCode: 2, stderr: 'RTNETLINK answers: Operation not permitted' } });
    const c = setup(undecided);
    await c.engine.start(parsedConfig(TUNNEL), new Map(), new Map());
    assert.deepEqual(farmsApplied(c.inner), ['web', 'far']);
    assert.equal(c.warnings.length, 1);
    assert.match(c.warnings[0]!, /cannot tell whether this kernel supports mode tunnel \(making a IPIP tunnel device failed: .*Operation not permitted/);
    await c.engine.stop();
  });
});

describe('tunnel probe', () => {
  const result = (exitCode: number, stderr = '') => ({ command: 'ip', args: [], exitCode, stdout: '', stderr, durationMs: 0, timedOut: false });
  it('maps the kernel\'s answer', () => {
    assert.deepEqual(tunnelSupport('ipv4', result(0)), { state: 'supported' });
    assert.equal(tunnelSupport('ipv4', result(1, 'Error: Unknown device type.\nCommand failed -:1')).state, 'missing');
    assert.equal(tunnelSupport('ipv6', result(1, 'RTNETLINK answers: Operation not permitted')).state, 'unknown');
  });
  it('a probe device left behind is deleted and means the type is known', async () => {
    const runner = new FakeRunner((call) => (call.args.includes('-batch') ? { exitCode: 1, stderr: 'RTNETLINK answers: File exists\nCommand failed -:1' } : undefined));
    assert.deepEqual(await new TunnelProbe(runner).probe('ipv6'), { state: 'supported' });
    assert.deepEqual(runner.calls.at(-1)!.args, ['link', 'del', PROBE_DEVICE.ipv6]);
  });
});
