// The status table and event lines: the same numbers as the JSON, colour only when asked.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatEvent, formatMs, formatPercent, formatStatus, formatDuration } from '../../agent/control/format.js';
import { fakeCluster, NOW, sampleInput, sampleStatus } from './fakes.js';
import { buildStatus } from '../../agent/control/status.js';
import { tableRows } from './table.js';


describe('formatStatus', () => {
  const status = sampleStatus({
    'web/b1': { lastCheck: { ok: true, message: 'ok', latencyMs: 1.25, at: NOW } },
    'web/b2': { health: 'down', lastCheck: { ok: false, message: 'TCP connect to 10.2.0.12:8080: ECONNREFUSED', latencyMs: 0.5, at: NOW } },
    'web/b3': { admin: 'maintenance' },
  });

  it('shows node, VRRP, cluster and dataplane on top', () => {
    const text = formatStatus(status, { colour: false });
    const head = text.split('\n').slice(0, 4);
    assert.match(head[0]!, /^node lb1 {2}ha-agent 9\.9\.9, up 2m5s$/);
    assert.equal(head[1], 'vrrp       MASTER');
    assert.equal(head[2], 'cluster    disabled');
    assert.equal(head[3], 'dataplane  iptables, in sync, 7 applies, last 12 ms, 1 errors, 2 drift repairs');
  });

  it('shows when drift was last repaired and how it was found, under the dataplane line', () => {
    const input = sampleInput();
    const drifted = buildStatus({ ...input, dataplane: { ...input.dataplane, lastDrift: { at: NOW, how: 'event', what: 'delete rule ip mangle HAM-web handle 4 by iptables (pid 42)' } } });
    const lines = formatStatus(drifted, { colour: false }).split('\n');
    assert.equal(lines[4], '           last drift repaired 2030-01-02T03:04:05.000Z (found by a kernel event): delete rule ip mangle HAM-web handle 4 by iptables (pid 42)');
    assert.equal(formatStatus(status, { colour: false }).split('\n')[4], '', 'no line before any drift');
  });

  it('has one row per backend with the numbers of the JSON', () => {
    const text = formatStatus(status, { colour: false });
    assert.match(text, /farm web {2}10\.1\.0\.100 tcp\/80,8000-8010 {2}dnat {2}weight {2}1\/3 in chain/);
    const rows = tableRows(text, 'web');
    assert.deepEqual([...rows.keys()], ['b1', 'b2', 'b3']);
    for (const b of status.farms[0]!.backends) {
      const [, address, health, admin, weight, share, mark] = rows.get(b.name)!;
      assert.equal(address, `${b.ip}:${b.port}`);
      assert.equal(health, b.health);
      assert.equal(admin, b.admin);
      assert.equal(weight, String(b.weight));
      assert.equal(share, formatPercent(b.share));
      assert.equal(mark, b.mark);
    }
    assert.equal(rows.get('b1')![1 + 6], 'ok 1.3 ms');
    assert.equal(rows.get('b2')![1 + 6], 'failed 0.5 ms: TCP connect to 10.2.0.12:8080: ECONNREFUSED');
    assert.equal(rows.get('b3')![1 + 6], 'paused (maintenance)');
    assert.equal(rows.get('b1')![5], '100.0%');
    assert.equal(tableRows(text, 'dns').get('d1')![1], '10.2.0.21:*');
  });

  it('writes an IPv6 backend as [addr]:port, so its colons do not read as the port', () => {
    const farm = status.farms[0]!;
    const v6 = { ...status, farms: [{ ...farm, vip: 'fd00:1::100', backends: farm.backends.map((b, i) => ({ ...b, ip: `fd00:2::${11 + i}` })) }] };
    const rows = tableRows(formatStatus(v6, { colour: false }), 'web');
    assert.equal(rows.get('b1')![1], `[fd00:2::11]:${farm.backends[0]!.port}`);
  });

  it('warns when a farm has no usable backend', () => {
    const s = sampleStatus({ 'web/b1': { health: 'down' }, 'web/b2': { health: 'down' }, 'web/b3': { health: 'down' } });
    assert.match(formatStatus(s, { colour: false }), /0\/3 in chain {2}\(no usable backend: new connections are refused\)/);
  });

  it('uses no escape codes without colour, and colours health with it', () => {
    assert.doesNotMatch(formatStatus(status, { colour: false }), /\x1b\[/);
    const coloured = formatStatus(status, { colour: true });
    assert.match(coloured, /\x1b\[32mup/);
    assert.match(coloured, /\x1b\[31mdown/);
    // Columns stay aligned: stripping the codes gives the plain table.
    assert.equal(coloured.replace(/\x1b\[\d+m/g, ''), formatStatus(status, { colour: false }));
  });

  it('lists cluster peers and the last apply error', () => {
    const input = sampleInput({}, { cluster: fakeCluster('connected', [{ node: 'lb2', vrrp: 'BACKUP' }]) });
    const s = buildStatus({ ...input, dataplane: { ...input.dataplane, inSync: false, lastError: 'iptables-restore exited 1: line 3 failed' } });
    const text = formatStatus(s, { colour: false });
    assert.match(text, /^cluster {4}connected; peers: lb2 \(BACKUP\)$/m);
    assert.match(text, /NOT in sync/);
    assert.match(text, /last error: iptables-restore exited 1: line 3 failed/);
  });
});

describe('formatEvent and helpers', () => {
  it('says what happened and why', () => {
    assert.equal(formatEvent({ at: '2030-01-02T03:04:05.000Z', type: 'transition', farm: 'web', backend: 'b1', from: 'up', to: 'down', reason: '3 consecutive failures: TCP connect to 10.2.0.11:8080: ECONNREFUSED' }),
      '2030-01-02T03:04:05.000Z  web/b1  health up -> down: 3 consecutive failures: TCP connect to 10.2.0.11:8080: ECONNREFUSED');
    assert.equal(formatEvent({ at: 'T', type: 'admin', farm: 'web', backend: 'b1', from: 'enabled', to: 'drain' }), 'T  web/b1  admin enabled -> drain');
    assert.equal(formatEvent({ at: 'T', type: 'apply-error', error: 'iptables-restore exited 4' }), 'T  apply failed: iptables-restore exited 4');
  });

  it('formats numbers', () => {
    assert.equal(formatPercent(1 / 3), '33.3%');
    assert.equal(formatPercent(0), '0.0%');
    assert.equal(formatMs(0.04), '0.0 ms');
    assert.equal(formatMs(123.4), '123 ms');
    assert.equal(formatDuration(59), '59s');
    assert.equal(formatDuration(3661), '1h1m');
    assert.equal(formatDuration(90061), '1d1h');
  });
});
