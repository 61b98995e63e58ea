// Cross-field rules on already-parsed parts, table-driven; the YAML-level table is in load.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterSchema, configSchema, farmSchema, vrrpSchema, type FarmConfig } from '../../config/schema.js';
import { semanticIssues, type ConfigIssue, type ConfigParts } from '../../config/semantics.js';

const farm = (over: Record<string, unknown> = {}): FarmConfig => farmSchema.parse({
  name: 'app', vip: '192.0.2.10', ports: [80], backends: [{ name: 'a0', ip: '10.0.0.1', port: 80 }], ...over,
});
const dataplane = (over: Record<string, unknown> = {}) => configSchema.shape.dataplane.parse(over);
const vrrp = (over: Record<string, unknown>) => vrrpSchema.parse({ interface: 'eth0', virtual_router_id: 51, priority: 100, ...over });

const CASES: readonly { readonly name: string; readonly parts: ConfigParts; readonly want: readonly ConfigIssue[] }[] = [
  { name: 'nothing to say about a plain farm', parts: { farms: [farm()], dataplane: dataplane() }, want: [] },
  { name: 'farms the schema rejected (holes) are skipped, the rest still compared',
    parts: { farms: [undefined, farm({ name: 'web' }), farm({ name: 'web', vip: '192.0.2.11' })] },
    want: [{ path: 'farms[2].name', message: 'duplicate farm name "web" (also farms[1])' }] },
  { name: 'a hole does not hide a VIP clash',
    parts: { farms: [farm(), undefined, farm({ name: 'web', ports: ['70-90'] })] },
    want: [{ path: 'farms[2].ports', message: 'tcp 192.0.2.10 port 80 is already served by farm "app" (farms[0])' }] },
  { name: 'fastinter and downinter not longer than timeout',
    parts: { farms: [farm({ check: { type: 'tcp', timeout: '1s', fastinter: '500ms', downinter: '1s' } })] },
    want: [
      { path: 'farms[0].check.fastinter', message: 'fastinter 500ms must be longer than timeout 1s' },
      { path: 'farms[0].check.downinter', message: 'downinter 1s must be longer than timeout 1s' },
    ] },
  { name: 'limits with neither a rate nor a cap', parts: { farms: [farm({ limits: { action: 'drop' } })] },
    want: [{ path: 'farms[0].limits', message: 'limits need new_per_second or established (or both)' }] },
  { name: 'a burst without a rate', parts: { farms: [farm({ limits: { burst: 10, established: 100 } })] },
    want: [{ path: 'farms[0].limits.burst', message: 'burst is the allowance above new_per_second; set new_per_second too' }] },
  { name: 'a backend cap above the farm cap never applies',
    parts: { farms: [farm({ limits: { established: 100 }, backends: [{ name: 'a0', ip: '10.0.0.1', port: 80, max_conns: 200 }] })] },
    want: [{ path: 'farms[0].backends[0].max_conns', message: "max_conns 200 is above the farm's limits.established 100, so it never applies" }] },
  { name: 'leastconn, limits, log and max_conns together are fine',
    parts: { farms: [farm({ algorithm: 'leastconn', log: true, limits: { new_per_second: 100, burst: 10, established: 100, action: 'drop' }, backends: [{ name: 'a0', ip: '10.0.0.1', port: 80, max_conns: 50 }] })], dataplane: dataplane() },
    want: [] },
  { name: 'mark_min above mark_max', parts: { farms: [], dataplane: dataplane({ mark_min: 0x400, mark_max: 0x300 }) },
    want: [{ path: 'dataplane.mark_min', message: 'mark_min 0x400 is above mark_max 0x300' }] },
  { name: 'mask not covering the mark range', parts: { farms: [], dataplane: dataplane({ mark_mask: 0xff }) },
    want: [{ path: 'dataplane.mark_mask', message: 'mask 0xff does not cover the mark range 0x200-0x3fff' }] },
  { name: 'more backends than marks', parts: { farms: [farm({ backends: [{ name: 'a', ip: '10.0.0.1', port: 80 }, { name: 'b', ip: '10.0.0.2', port: 80 }] })], dataplane: dataplane({ mark_min: 0x200, mark_max: 0x200 }) },
    want: [{ path: 'dataplane.mark_max', message: '2 backends need 2 marks; mark_min..mark_max holds 1' }] },
  { name: 'pinned mark outside the range', parts: { farms: [farm({ backends: [{ name: 'a', ip: '10.0.0.1', port: 80, mark: 0x10 }] })], dataplane: dataplane() },
    want: [{ path: 'farms[0].backends[0].mark', message: 'mark 0x10 is outside dataplane.mark_min..mark_max' }] },
  { name: 'duplicate unicast peer', parts: { farms: [], vrrp: vrrp({ unicast_src: '10.0.0.1', unicast_peers: ['10.0.0.2', '10.0.0.2'] }) },
    want: [{ path: 'vrrp.unicast_peers[1]', message: 'duplicate peer 10.0.0.2' }] },
  { name: 'unicast peers without unicast_src', parts: { farms: [], vrrp: vrrp({ unicast_peers: ['10.0.0.2'] }) },
    want: [{ path: 'vrrp.unicast_src', message: 'unicast_peers need a unicast_src' }] },
  { name: 'cluster with neither redis nor sentinels', parts: { farms: [], cluster: clusterSchema.parse({}) },
    want: [{ path: 'cluster.redis', message: 'give a redis URL or sentinels' }] },
  { name: 'cluster with both redis and sentinels, sentinels unnamed', parts: { farms: [], cluster: clusterSchema.parse({ redis: 'redis://h', sentinels: ['h:26379'] }) },
    want: [
      { path: 'cluster.sentinels', message: 'give either redis or sentinels, not both' },
      { path: 'cluster.sentinel_name', message: 'sentinels need the monitored master name' },
    ] },
];

for (const c of CASES) {
  test(c.name, () => assert.deepEqual(semanticIssues(c.parts), c.want));
}
