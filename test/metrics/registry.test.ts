// AgentMetrics: gauges agree with the status they are set from; events feed counters and histograms.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentMetrics, upValue } from '../../agent/metrics/registry.js';
import { buildStatus } from '../../agent/control/status.js';
import { fakeCluster, NOW, sampleInput, sampleStatus } from '../control/fakes.js';
import { parsePrometheusText, valueOf } from './prom-text.js';

const result = { changed: true, durationMs: 20, rewritten: ['web'], deleted: [] };

describe('AgentMetrics', () => {
  it('exposes the status as gauges that agree with it', async () => {
    const status = sampleStatus({ 'web/b1': { health: 'down' }, 'web/b2': { admin: 'drain' }, 'dns/d1': { health: 'unknown' } });
    const m = parsePrometheusText(await new AgentMetrics().scrape(status));
    for (const farm of status.farms) {
      for (const b of farm.backends) {
        const labels = { farm: farm.name, backend: b.name };
        for (const state of ['up', 'down', 'unknown']) {
          assert.equal(valueOf(m, 'ha_agent_backend_health', { ...labels, state }), b.health === state ? 1 : 0);
        }
        assert.equal(valueOf(m, 'ha_agent_backend_up', labels), upValue(b.health));
        assert.equal(valueOf(m, 'ha_agent_backend_share_ratio', labels), b.share);
        assert.equal(valueOf(m, 'ha_agent_backend_in_chain', labels), b.in_chain ? 1 : 0);
        for (const state of ['enabled', 'drain', 'maintenance']) {
          assert.equal(valueOf(m, 'ha_agent_backend_admin_state', { ...labels, state }), b.admin === state ? 1 : 0);
        }
        assert.equal(valueOf(m, 'ha_agent_check_failures_total', labels), 0);
      }
    }
    assert.equal(valueOf(m, 'ha_agent_backend_up', { farm: 'web', backend: 'b1' }), 0);
    assert.equal(valueOf(m, 'ha_agent_backend_health', { farm: 'web', backend: 'b1', state: 'down' }), 1);
    // Not known yet is neither up nor down, and no gauge carries a magic value for it.
    assert.equal(valueOf(m, 'ha_agent_backend_up', { farm: 'dns', backend: 'd1' }), 0);
    assert.equal(valueOf(m, 'ha_agent_backend_health', { farm: 'dns', backend: 'd1', state: 'unknown' }), 1);
    assert.equal(valueOf(m, 'ha_agent_backend_health', { farm: 'dns', backend: 'd1', state: 'down' }), 0);
    for (const family of [...m.values()].filter((f) => f.name.startsWith('ha_agent_'))) {
      for (const sample of family.samples) assert.ok(sample.value >= 0, `${sample.name}${JSON.stringify(sample.labels)} is ${sample.value}`);
    }
    assert.equal(valueOf(m, 'ha_agent_backend_share_ratio', { farm: 'web', backend: 'b3' }), 1);
    assert.equal(valueOf(m, 'ha_agent_vrrp_state', { state: 'MASTER' }), 1);
    assert.equal(valueOf(m, 'ha_agent_vrrp_state', { state: 'BACKUP' }), 0);
    // Standalone reads as disabled, not as disconnected.
    assert.equal(valueOf(m, 'ha_agent_cluster_state', { state: 'disabled' }), 1);
    assert.equal(valueOf(m, 'ha_agent_cluster_state', { state: 'disconnected' }), 0);
    assert.equal(valueOf(m, 'ha_agent_cluster_state', { state: 'connected' }), 0);
    assert.equal(valueOf(m, 'ha_agent_cluster_split_brain'), 0);
    assert.equal(m.has('ha_agent_notify_delivered_total') && m.get('ha_agent_notify_delivered_total')!.samples.length, 0, 'no hooks, no series');
    assert.equal(valueOf(m, 'ha_agent_applies_total'), 7);
    assert.equal(valueOf(m, 'ha_agent_apply_errors_total'), 1);
    // Counted by the drift watch as it repairs (test/daemon/drift.test.ts), not taken from the status.
    assert.deepEqual(m.get('ha_agent_drift_repairs_total')!.samples.map((x) => x.labels.how).sort(), ['event', 'sweep']);
    assert.equal(valueOf(m, 'ha_agent_dataplane_in_sync'), 1);
    assert.equal(valueOf(m, 'ha_agent_info', { node: 'lb1', version: '9.9.9', driver: 'iptables' }), 1);
    assert.equal(m.get('ha_agent_check_duration_seconds')!.type, 'histogram');
    assert.equal(m.get('ha_agent_apply_duration_seconds')!.type, 'histogram');
    assert.ok(m.has('process_resident_memory_bytes') && m.has('nodejs_heap_size_used_bytes'), 'process metrics');
  });

  it('counts checks, failures, transitions and apply durations from engine events', async () => {
    const metrics = new AgentMetrics({ processMetrics: false });
    const check = (ok: boolean, latencyMs: number) => metrics.observe({ type: 'check', farm: 'web', backend: 'b1', result: { ok, message: ok ? 'ok' : 'refused', latencyMs, at: NOW } });
    check(true, 2);
    check(false, 40);
    check(false, 3000);
    metrics.observe({ type: 'transition', farm: 'web', backend: 'b1', from: 'up', to: 'down', reason: 'x', at: NOW });
    metrics.observe({ type: 'applied', result, farms: ['web'], at: NOW });
    metrics.observe({ type: 'admin', farm: 'web', backend: 'b1', from: 'enabled', to: 'drain', at: NOW });
    metrics.observe({ type: 'apply-error', error: 'e', at: NOW });
    const m = parsePrometheusText(await metrics.scrape(sampleStatus()));
    const b1 = { farm: 'web', backend: 'b1' };
    assert.equal(valueOf(m, 'ha_agent_check_failures_total', b1), 2);
    assert.equal(valueOf(m, 'ha_agent_check_duration_seconds_count', b1), 3);
    assert.equal(valueOf(m, 'ha_agent_check_duration_seconds_bucket', { ...b1, le: '0.0025' }), 1);
    assert.equal(valueOf(m, 'ha_agent_check_duration_seconds_bucket', { ...b1, le: '0.05' }), 2);
    assert.equal(valueOf(m, 'ha_agent_check_duration_seconds_sum', b1), 3.042);
    assert.equal(valueOf(m, 'ha_agent_backend_transitions_total', { ...b1, to: 'down' }), 1);
    assert.equal(valueOf(m, 'ha_agent_apply_duration_seconds_count'), 1);
    assert.equal(valueOf(m, 'ha_agent_apply_duration_seconds_bucket', { le: '0.025' }), 1);
    assert.equal(m.has('process_resident_memory_bytes'), false);
  });

  it('follows the status between scrapes and forgets removed backends', async () => {
    const metrics = new AgentMetrics({ processMetrics: false });
    metrics.observe({ type: 'check', farm: 'web', backend: 'b1', result: { ok: false, message: 'x', latencyMs: 1, at: NOW } });
    await metrics.scrape(sampleStatus());
    const input = sampleInput({ 'web/b2': { admin: 'maintenance' } }, { cluster: fakeCluster('connected', [{ node: 'lb2', vrrp: 'BACKUP' }]) });
    const without = { ...input, farms: input.farms.map((f) => ({ ...f, backends: f.backends.filter((b) => b.name !== 'b1') })) };
    const m = parsePrometheusText(await metrics.scrape(buildStatus({ ...without, vrrp: { state: 'BACKUP', since: NOW } })));
    assert.throws(() => valueOf(m, 'ha_agent_backend_up', { farm: 'web', backend: 'b1' }), /no series/);
    assert.throws(() => valueOf(m, 'ha_agent_backend_health', { farm: 'web', backend: 'b1', state: 'up' }), /no series/);
    assert.throws(() => valueOf(m, 'ha_agent_check_failures_total', { farm: 'web', backend: 'b1' }), /no series/);
    assert.equal(valueOf(m, 'ha_agent_backend_admin_state', { farm: 'web', backend: 'b2', state: 'maintenance' }), 1);
    assert.equal(valueOf(m, 'ha_agent_vrrp_state', { state: 'BACKUP' }), 1);
    assert.equal(valueOf(m, 'ha_agent_vrrp_state', { state: 'MASTER' }), 0);
    assert.equal(valueOf(m, 'ha_agent_cluster_state', { state: 'connected' }), 1);
    assert.equal(valueOf(m, 'ha_agent_cluster_state', { state: 'disabled' }), 0);
    assert.equal(valueOf(m, 'ha_agent_cluster_peers'), 1);
    const lost = parsePrometheusText(await metrics.scrape(sampleStatus({}, { cluster: fakeCluster('disconnected') })));
    assert.equal(valueOf(lost, 'ha_agent_cluster_state', { state: 'disconnected' }), 1);
    assert.equal(valueOf(lost, 'ha_agent_cluster_state', { state: 'connected' }), 0);
  });

  it('counts split brain, admin disagreements and store data losses from the cluster view', async () => {
    const cluster = {
      ...fakeCluster('connected', [{ node: 'lb2', vrrp: 'BACKUP' }]),
      splitBrain: () => [{ virtual_router_id: 51, masters: ['lb1', 'lb2'] }],
      adminDisagreements: () => [{ backend: 'web/b1', views: { lb1: 'enabled' as const, lb2: 'drain' as const }, since: new Date(NOW).toISOString() }],
      dataLosses: () => 2,
    };
    const m = parsePrometheusText(await new AgentMetrics({ processMetrics: false }).scrape(sampleStatus({}, { cluster })));
    assert.equal(valueOf(m, 'ha_agent_cluster_split_brain'), 1);
    assert.equal(valueOf(m, 'ha_agent_cluster_admin_disagreements'), 1);
    assert.equal(valueOf(m, 'ha_agent_cluster_store_data_losses_total'), 2);
  });

  it('exports each notify hook\'s counters and queue, and drops a hook a reload removed', async () => {
    const metrics = new AgentMetrics({ processMetrics: false });
    const hooks = [
      { index: 0, kind: 'exec' as const, target: '/usr/local/bin/page', queued: 3, delivered: 10, failed: 2, dropped: 1 },
      { index: 1, kind: 'webhook' as const, target: 'https://hooks.example', queued: 0, delivered: 4, failed: 0, dropped: 0 },
    ];
    const m = parsePrometheusText(await metrics.scrape(sampleStatus(), { delivered: 14, failed: 2, dropped: 1, queued: 3, hooks }));
    assert.equal(m.get('ha_agent_notify_delivered_total')!.type, 'counter');
    assert.equal(m.get('ha_agent_notify_queued')!.type, 'gauge');
    assert.equal(valueOf(m, 'ha_agent_notify_delivered_total', { hook: '0', kind: 'exec' }), 10);
    assert.equal(valueOf(m, 'ha_agent_notify_failed_total', { hook: '0', kind: 'exec' }), 2);
    assert.equal(valueOf(m, 'ha_agent_notify_dropped_total', { hook: '0', kind: 'exec' }), 1);
    assert.equal(valueOf(m, 'ha_agent_notify_queued', { hook: '0', kind: 'exec' }), 3);
    assert.equal(valueOf(m, 'ha_agent_notify_delivered_total', { hook: '1', kind: 'webhook' }), 4);
    assert.equal(valueOf(m, 'ha_agent_notify_queued', { hook: '1', kind: 'webhook' }), 0);
    // The target can hold a host name or a path an operator would not label series with.
    assert.ok(m.get('ha_agent_notify_delivered_total')!.samples.every((s) => !('target' in s.labels)));
    const later = parsePrometheusText(await metrics.scrape(sampleStatus(), { delivered: 15, failed: 2, dropped: 1, queued: 0, hooks: [{ ...hooks[1]!, index: 0, delivered: 5 }] }));
    assert.equal(valueOf(later, 'ha_agent_notify_delivered_total', { hook: '0', kind: 'webhook' }), 5);
    assert.throws(() => valueOf(later, 'ha_agent_notify_delivered_total', { hook: '0', kind: 'exec' }), /no series/);
    assert.throws(() => valueOf(later, 'ha_agent_notify_queued', { hook: '1', kind: 'webhook' }), /no series/);
  });

  it('forgets a removed backend whose last check lands after the scrape that dropped it', async () => {
    const metrics = new AgentMetrics({ processMetrics: false });
    await metrics.scrape(sampleStatus());
    const input = sampleInput();
    const without = buildStatus({ ...input, farms: input.farms.map((f) => ({ ...f, backends: f.backends.filter((b) => b.name !== 'b1') })) });
    await metrics.scrape(without);
    metrics.observe({ type: 'check', farm: 'web', backend: 'b1', result: { ok: false, message: 'x', latencyMs: 1, at: NOW } });
    metrics.observe({ type: 'transition', farm: 'web', backend: 'b1', from: 'up', to: 'down', reason: 'x', at: NOW });
    const m = parsePrometheusText(await metrics.scrape(without));
    assert.throws(() => valueOf(m, 'ha_agent_check_failures_total', { farm: 'web', backend: 'b1' }), /no series/);
    assert.throws(() => valueOf(m, 'ha_agent_check_duration_seconds_count', { farm: 'web', backend: 'b1' }), /no series/);
    assert.throws(() => valueOf(m, 'ha_agent_backend_transitions_total', { farm: 'web', backend: 'b1', to: 'down' }), /no series/);
    assert.equal(valueOf(m, 'ha_agent_check_failures_total', { farm: 'web', backend: 'b2' }), 0);
  });
});
