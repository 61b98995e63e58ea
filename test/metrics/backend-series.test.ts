// BackendSeries: the per-backend families kept as numbers and written as text must read exactly as
// prom-client's metrics did (cumulative buckets with `le` inclusive, every listed backend with a
// failures series), follow the status on each update, and forget backends a reload removed.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { BackendSeries, CHECK_BUCKETS, type FarmGauges } from '../../agent/metrics/backend-series.js';
import { parsePrometheusText, valueOf } from './prom-text.js';

const backend = (name: string, over: Partial<FarmGauges['backends'][number]> = {}) =>
  ({ name, health: 'up', admin: 'enabled', share: 0.5, in_chain: true, effective_weight: 1, ...over }) as const;
const text = (s: BackendSeries): string => [...s.chunks()].join('');

describe('BackendSeries', () => {
  it('writes check durations as prom-client would, bucket bounds included', async () => {
    const durations = [0, 0.001, 0.0011, 0.0025, 0.3, 1, 9.99, 10, 10.01, 600];
    const series = new BackendSeries();
    const registry = new Registry();
    const reference = new Histogram({ name: 'ha_agent_check_duration_seconds', help: 'Health check duration', labelNames: ['farm', 'backend'], buckets: CHECK_BUCKETS, registers: [registry] });
    for (const d of durations) {
      series.observeCheck('web', 'b1', d, true);
      reference.observe({ farm: 'web', backend: 'b1' }, d);
    }
    const ours = parsePrometheusText(text(series)).get('ha_agent_check_duration_seconds')!;
    const theirs = parsePrometheusText(await registry.metrics()).get('ha_agent_check_duration_seconds')!;
    assert.equal(ours.type, 'histogram');
    const key = (x: { name: string; labels: Record<string, string> }) => `${x.name}${JSON.stringify(Object.entries(x.labels).sort())}`;
    assert.deepEqual(new Map(ours.samples.map((x) => [key(x), x.value])), new Map(theirs.samples.map((x) => [key(x), x.value])));
    assert.equal(ours.samples.length, CHECK_BUCKETS.length + 3);
  });

  it('takes gauges from each update, counts failures and transitions, and has no series for a backend without data', () => {
    const series = new BackendSeries();
    series.update([{ name: 'web', backends: [backend('b1'), backend('b2', { health: 'unknown', admin: 'drain', share: 0, in_chain: false, effective_weight: 3 })] }]);
    series.observeCheck('web', 'b1', 0.002, false);
    series.observeCheck('web', 'b1', 0.002, false);
    series.transition('web', 'b1', 'down');
    let m = parsePrometheusText(text(series));
    const b1 = { farm: 'web', backend: 'b1' };
    const b2 = { farm: 'web', backend: 'b2' };
    assert.equal(valueOf(m, 'ha_agent_check_failures_total', b1), 2);
    assert.equal(valueOf(m, 'ha_agent_check_failures_total', b2), 0, 'a listed backend has the series before its first failure');
    assert.equal(valueOf(m, 'ha_agent_backend_transitions_total', { ...b1, to: 'down' }), 1);
    assert.equal(m.get('ha_agent_backend_transitions_total')!.samples.length, 1, 'no transition, no series');
    assert.equal(m.get('ha_agent_check_duration_seconds')!.samples.filter((x) => x.labels.backend === 'b2').length, 0, 'no check, no histogram');
    assert.equal(valueOf(m, 'ha_agent_backend_health', { ...b2, state: 'unknown' }), 1);
    assert.equal(valueOf(m, 'ha_agent_backend_up', b2), 0);
    assert.equal(valueOf(m, 'ha_agent_backend_admin_state', { ...b2, state: 'drain' }), 1);
    assert.equal(valueOf(m, 'ha_agent_backend_admin_state', { ...b2, state: 'enabled' }), 0);
    assert.equal(valueOf(m, 'ha_agent_backend_in_chain', b2), 0);
    assert.equal(valueOf(m, 'ha_agent_backend_effective_weight', b2), 3);
    // The values are copied: the next update, not the object it was given, changes them.
    const changed = [{ name: 'web', backends: [backend('b1', { health: 'down', share: 0, in_chain: false }), backend('b2')] }];
    series.update(changed);
    m = parsePrometheusText(text(series));
    assert.equal(valueOf(m, 'ha_agent_backend_health', { ...b1, state: 'down' }), 1);
    assert.equal(valueOf(m, 'ha_agent_backend_up', b1), 0);
    assert.equal(valueOf(m, 'ha_agent_backend_share_ratio', b1), 0);
    assert.equal(valueOf(m, 'ha_agent_backend_health', { ...b2, state: 'up' }), 1);
    assert.equal(valueOf(m, 'ha_agent_check_failures_total', b1), 2, 'counters survive updates');
  });

  it('forgets every series of a backend or farm the status no longer lists', () => {
    const series = new BackendSeries();
    series.update([{ name: 'web', backends: [backend('b1'), backend('b2')] }, { name: 'dns', backends: [backend('d1')] }]);
    for (const [f, b] of [['web', 'b1'], ['web', 'b2'], ['dns', 'd1']] as const) {
      series.observeCheck(f, b, 0.01, false);
      series.transition(f, b, 'down');
    }
    series.update([{ name: 'web', backends: [backend('b1')] }]);
    assert.equal(series.size, 1);
    const m = parsePrometheusText(text(series));
    for (const family of m.values()) {
      for (const sample of family.samples) assert.deepEqual([sample.labels.farm, sample.labels.backend], ['web', 'b1'], `${sample.name} kept a removed backend`);
    }
    // A backend seen only in events (checked before a reload's status lists it) goes at the next update too.
    series.observeCheck('new', 'n1', 0.01, true);
    assert.equal(series.size, 2);
    series.update([{ name: 'web', backends: [backend('b1')] }]);
    assert.equal(series.size, 1);
  });

  it('writes each family once, its samples together, one chunk per farm', () => {
    const series = new BackendSeries();
    const farms = ['a', 'b', 'c'].map((name) => ({ name, backends: [backend(`${name}1`), backend(`${name}2`)] }));
    series.update(farms);
    const chunks = [...series.chunks()];
    const all = chunks.join('');
    const types = all.split('\n').filter((l) => l.startsWith('# TYPE '));
    assert.equal(new Set(types).size, types.length, 'a family written twice');
    // Grouped: once a family's samples end, none of it appears again.
    const order = all.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => /^([a-z_]+?)(?:_bucket|_sum|_count)?\{/.exec(l)![1]);
    const runs = order.filter((name, i) => name !== order[i - 1]);
    assert.equal(new Set(runs).size, runs.length, 'a family interleaved with another');
    assert.ok(chunks.every((c) => !c.includes('farm="a"') || !c.includes('farm="b"')), 'a chunk holds one farm');
  });
});
