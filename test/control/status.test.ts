// buildStatus: the SPEC §3 shape, shares that sum to 1 over the chain and are 0 elsewhere.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildStatus } from '../../agent/control/status.js';
import { formatMark } from '../../agent/plan/marks.js';
import { fakeCluster, NOW, sampleInput, sampleStatus } from './fakes.js';

const backend = (s: ReturnType<typeof sampleStatus>, farm: string, name: string) =>
  s.farms.find((f) => f.name === farm)!.backends.find((b) => b.name === name)!;

describe('buildStatus', () => {
  it('has the SPEC shape with its extra fields', () => {
    const s = sampleStatus({ 'web/b1': { lastCheck: { ok: false, message: 'TCP connect to 10.2.0.11:8080: ECONNREFUSED', latencyMs: 1.23456, at: NOW - 500 } } });
    assert.equal(s.node, 'lb1');
    assert.deepEqual(s.vrrp, { state: 'MASTER', since: '2030-01-02T03:03:05.000Z' });
    assert.deepEqual(s.cluster, { state: 'disabled', peers: [] });
    assert.deepEqual(s.dataplane, {
      driver: 'iptables', in_sync: true, last_error: null, applies: 7, apply_errors: 1, last_apply_ms: 12.346,
      last_apply_at: '2030-01-02T03:04:04.000Z', drift_repairs: 2, last_drift: null, drift_event_checks: 0,
    });
    assert.equal(s.uptime_s, 125);
    const web = s.farms[0]!;
    assert.deepEqual({ ...web, backends: undefined }, { name: 'web', vip: '10.1.0.100', ports: [80, '8000-8010'], protocol: 'tcp', mode: 'dnat', algorithm: 'weight', backends: undefined });
    const b1 = web.backends[0]!;
    assert.deepEqual(Object.keys(b1).sort(), ['admin', 'effective_weight', 'health', 'health_since', 'in_chain', 'ip', 'last_check', 'mark', 'name', 'port', 'priority', 'share', 'weight']);
    assert.match(b1.mark, /^0x[0-9a-f]+$/);
    assert.deepEqual(b1.last_check, { ok: false, message: 'TCP connect to 10.2.0.11:8080: ECONNREFUSED', latency_ms: 1.235, at: '2030-01-02T03:04:04.500Z' });
    assert.equal(s.farms[1]!.backends[0]!.port, null, 'a backend without a port keeps the client port');
  });

  it('reports the last drift repair with how it was found, as an ISO time', () => {
    const input = sampleInput();
    const s = buildStatus({ ...input, dataplane: { ...input.dataplane, lastDrift: { at: NOW - 2000, how: 'event', what: 'delete rule ip mangle HAM-web handle 4 by iptables (pid 42)' }, driftEventChecks: 3 } });
    assert.deepEqual(s.dataplane.last_drift, { at: '2030-01-02T03:04:03.000Z', how: 'event', what: 'delete rule ip mangle HAM-web handle 4 by iptables (pid 42)' });
    assert.equal(s.dataplane.drift_event_checks, 3);
  });

  it('shares follow the weights and sum to 1 over the chain', () => {
    const s = sampleStatus();
    const shares = s.farms[0]!.backends.map((b) => b.share);
    assert.deepEqual(shares, [0.166667, 0.333333, 0.5]);
    assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  });

  it('a down, drained or maintenance backend is out of the chain with share exactly 0', () => {
    for (const view of [{ health: 'down' as const }, { admin: 'drain' as const }, { admin: 'maintenance' as const }]) {
      const s = sampleStatus({ 'web/b2': view });
      const b2 = backend(s, 'web', 'b2');
      assert.equal(b2.in_chain, false);
      assert.equal(b2.share, 0);
      const inChain = s.farms[0]!.backends.filter((b) => b.in_chain);
      assert.deepEqual(inChain.map((b) => b.name), ['b1', 'b3']);
      assert.ok(Math.abs(inChain.reduce((a, b) => a + b.share, 0) - 1) < 1e-5);
    }
  });

  it('a farm with every backend down has no share anywhere', () => {
    const s = sampleStatus({ 'web/b1': { health: 'down' }, 'web/b2': { health: 'down' }, 'web/b3': { admin: 'drain' } });
    assert.ok(s.farms[0]!.backends.every((b) => !b.in_chain && b.share === 0));
  });

  it('reports the cluster from a provider when there is one', () => {
    const s = buildStatus(sampleInput({}, { cluster: fakeCluster('connected', [{ node: 'lb2', vrrp: 'BACKUP' }]) }));
    assert.deepEqual(s.cluster, { state: 'connected', peers: [{ node: 'lb2', vrrp: 'BACKUP' }] });
  });

  it('nulls what is not known yet', () => {
    const s = buildStatus({ ...sampleInput(), dataplane: { ...sampleInput().dataplane, lastApplyAt: null, lastApplyMs: null }, backend: () => undefined });
    assert.equal(s.dataplane.last_apply_at, null);
    assert.equal(s.dataplane.last_apply_ms, null);
    assert.equal(s.farms[0]!.backends[0]!.last_check, null);
    assert.equal(s.farms[0]!.backends[0]!.health_since, null);
  });

  it('formats marks as lowercase hex', () => {
    assert.equal(formatMark(0x20c), '0x20c');
    assert.equal(formatMark(0x3fff), '0x3fff');
  });
});
