// sameRules: the engine leaves a farm out of a transaction when its new plan gives the rules the
// kernel holds. It may ignore only what no renderer reads; every algorithm and mode is rendered by
// both drivers with the ignored field varied, so a renderer that starts reading it fails here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsedConfig } from '../support/config.js';
import { assignMarks } from '../../agent/plan/marks.js';
import { planFarm, sameRules, type BackendView, type Health } from '../../agent/plan/plan.js';
import { renderNftFarm } from '../../agent/render/nftables.js';
import { renderFarm } from '../../agent/render/iptables.js';

const config = parsedConfig(`node: { id: lb1 }
farms:
  - name: w
    vip: 10.1.0.100
    ports: [443]
    backends:
      - { name: a, ip: 10.2.0.11, port: 443, weight: 1, max_conns: 10 }
      - { name: b, ip: 10.2.0.12, port: 443, weight: 3 }
      - { name: c, ip: 10.2.0.13, port: 443, weight: 2, priority: 2 }
  - name: rr
    vip: 10.1.0.101
    ports: [80]
    algorithm: roundrobin
    persistence: { type: srcip, ttl: 30s }
    backends: [{ name: a, ip: 10.2.0.21, port: 80, weight: 2 }, { name: b, ip: 10.2.0.22, port: 80 }]
  - name: h
    vip: 10.1.0.102
    ports: [80]
    algorithm: hash-srcip
    mode: snat
    backends: [{ name: a, ip: 10.2.0.31, port: 80 }, { name: b, ip: 10.2.0.32, port: 80 }]
  - name: m
    vip: 10.1.0.103
    ports: [80]
    algorithm: hash-5tuple
    log: true
    backends: [{ name: a, ip: 10.2.0.41, port: 80 }, { name: b, ip: 10.2.0.42, port: 80 }]
`);
const marks = assignMarks(config, { min: 0x200, max: 0x3fff });
const MASK = 0x3fff;

function planOf(name: string, view: (backend: string) => Partial<BackendView>) {
  const farm = config.farms.find((f) => f.name === name)!;
  return planFarm(farm, marks, (_f, b) => view(b));
}

for (const farm of config.farms) {
  test(`sameRules: ${farm.algorithm} farm ${farm.name}, unknown -> up is the same rules, and renders alike in both drivers`, () => {
    const unknown = planOf(farm.name, () => ({ health: 'unknown' as Health }));
    const up = planOf(farm.name, () => ({ health: 'up' as Health }));
    assert.notDeepEqual(unknown, up, 'the plans differ in health');
    assert.equal(sameRules(unknown, up), true);
    assert.deepEqual(renderNftFarm(unknown, MASK), renderNftFarm(up, MASK));
    assert.deepEqual(renderFarm(unknown, MASK), renderFarm(up, MASK));
  });
}

const changes: { name: string; view: (backend: string) => Partial<BackendView> }[] = [
  { name: 'a backend down', view: (b) => ({ health: b === 'a' ? 'down' : 'up' }) },
  { name: 'a backend drained', view: (b) => ({ health: 'up', ...(b === 'a' ? { admin: 'drain' as const } : {}) }) },
  { name: 'slow start scales a weight', view: (b) => ({ health: 'up', weightFactor: b === 'b' ? 0.5 : 1 }) },
  { name: 'leastconn scales a weight', view: (b) => ({ health: 'up', loadFactor: b === 'b' ? 0.25 : 1 }) },
  { name: 'a backend full', view: (b) => ({ health: 'up', full: b === 'a' }) },
];

for (const c of changes) {
  test(`sameRules: ${c.name} is a change`, () => {
    const before = planOf('w', () => ({ health: 'up' }));
    assert.equal(sameRules(before, planOf('w', c.view)), false);
  });
}

test('sameRules: a moved mark, an edited backend or a different farm is a change; the same plan twice is not', () => {
  const plan = planOf('w', () => ({ health: 'up' }));
  assert.equal(sameRules(plan, planOf('w', () => ({ health: 'up' }))), true);
  const moved = planFarm(config.farms[0]!, new Map([...marks].map(([k, v]) => [k, k === 'w/b' ? v + 1 : v])), () => ({ health: 'up' }));
  assert.equal(sameRules(plan, moved), false);
  const edited = parsedConfig(`node: { id: lb1 }
farms:
  - name: w
    vip: 10.1.0.100
    ports: [443]
    backends:
      - { name: a, ip: 10.2.0.11, port: 443, weight: 1, max_conns: 10 }
      - { name: b, ip: 10.2.0.12, port: 8443, weight: 3 }
      - { name: c, ip: 10.2.0.13, port: 443, weight: 2, priority: 2 }
`);
  assert.equal(sameRules(plan, planFarm(edited.farms[0]!, marks, () => ({ health: 'up' }))), false);
  assert.equal(sameRules(plan, planOf('h', () => ({ health: 'up' }))), false);
});
