// An sctp farm on a kernel without SCTP conntrack, through the engine: the apply is refused with
// the reason as the dataplane's last error (a reload or the start-up fails with it), the kernel
// keeps the rules it had, and the probe runs once. Other kernels (and configs without sctp farms)
// apply as before.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../agent/engine/engine.js';
import { FakeNetfilter } from '../../agent/apply/netfilter.fake.js';
import { SctpGuard } from '../../agent/apply/sctp-guard.js';
import type { SctpSupport } from '../../agent/apply/sctp-probe.js';
import { silentLogger } from '../../agent/log.js';
import { parsedConfig } from '../support/config.js';

const TCP = `node: { id: lb1 }
farms:
  - name: web
    vip: 10.1.0.100
    ports: [80]
    check: { type: none }
    backends: [{ name: w1, ip: 10.2.0.11 }]
`;
const SCTP = `${TCP}  - name: sig
    vip: 10.1.0.101
    protocol: sctp
    ports: [2905]
    check: { type: none }
    backends: [{ name: m1, ip: 10.2.0.12 }]
`;
const MISSING: SctpSupport = { state: 'missing', reason: 'nf_conntrack is loaded but has no SCTP support' };

function setup(support: SctpSupport) {
  const inner = new FakeNetfilter('nftables');
  let probes = 0;
  const warnings: string[] = [];
  const netfilter = new SctpGuard(inner, { probe: async () => { probes++; return support; }, warn: (m) => void warnings.push(m) });
  const engine = new Engine({
    netfilter, conntrack: { cut: async () => 0 }, logger: silentLogger, now: Date.now, persist: async () => undefined, coalesceMs: 1, retryMs: 60_000,
  });
  return { engine, inner, netfilter, warnings, probes: () => probes };
}

const farmsApplied = (inner: FakeNetfilter) => inner.syncs.at(-1)!.desired.farms.map((f) => f.name);

describe('sctp farms on a kernel without SCTP conntrack', () => {
  it('are refused with the reason; the rules in the kernel stay; the probe runs once', async () => {
    const { engine, inner, probes } = setup(MISSING);
    await engine.start(parsedConfig(TCP), new Map(), new Map());
    assert.equal(probes(), 0, 'no sctp farm: no probe');
    assert.deepEqual(farmsApplied(inner), ['web']);
    const syncs = inner.syncs.length;
    await assert.rejects(engine.reload(parsedConfig(SCTP)), /refusing farm sig/);
    assert.equal(inner.syncs.length, syncs, 'nothing reached the kernel');
    assert.match(engine.dataplane.lastError!, /refusing farm sig \(protocol sctp\): this kernel cannot track or NAT SCTP: nf_conntrack is loaded but has no SCTP support/);
    assert.equal(engine.dataplane.inSync, false);
    await assert.rejects(engine.requestSync(['sig']), /refusing farm sig/);
    assert.match(engine.dataplane.lastError!, /refusing farm sig/);
    assert.equal(probes(), 1);
    // The farm removed again: applied, the error cleared.
    await engine.reload(parsedConfig(TCP));
    assert.equal(engine.dataplane.lastError, null);
    assert.deepEqual(farmsApplied(inner), ['web']);
    await engine.stop();
  });

  it('at start-up: the first apply is refused, saying why', async () => {
    const { engine, inner } = setup(MISSING);
    await assert.rejects(engine.start(parsedConfig(SCTP), new Map(), new Map()), /refusing farm sig \(protocol sctp\)/);
    assert.equal(inner.syncs.length, 0);
    assert.match(engine.dataplane.lastError!, /refusing farm sig \(protocol sctp\)/);
    await engine.stop();
  });

  it('apply where the kernel has SCTP, and (with a warning) where the probe cannot tell', async () => {
    for (const support of [{ state: 'supported' }, { state: 'unknown', reason: 'nf_conntrack is not loaded' }] as SctpSupport[]) {
      const { engine, inner, warnings } = setup(support);
      await engine.start(parsedConfig(SCTP), new Map(), new Map());
      assert.equal(engine.dataplane.lastError, null);
      assert.deepEqual(farmsApplied(inner), ['web', 'sig']);
      assert.deepEqual(warnings.length, support.state === 'unknown' ? 1 : 0, JSON.stringify(warnings));
      await engine.stop();
    }
  });
});
