// Planning: who is in the chain (health, admin, priority groups) and each backend's share.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsedConfig } from '../support/config.js';
import { assignMarks } from '../../agent/plan/marks.js';
import { planFarm, type BackendView } from '../../agent/plan/plan.js';

const config = parsedConfig(`node: { id: lb1 }
farms:
  - name: app
    vip: 10.1.0.100
    ports: [443]
    backends:
      - { name: a, ip: 10.2.0.11, port: 443, weight: 1 }
      - { name: b, ip: 10.2.0.12, port: 443, weight: 3 }
      - { name: c, ip: 10.2.0.13, port: 443, weight: 2, priority: 2 }
`);
const marks = assignMarks(config, { min: 0x200, max: 0x3fff });
const farm = config.farms[0]!;

function planWith(views: Record<string, Partial<BackendView>>) {
  const p = planFarm(farm, marks, (_f, b) => ({ health: 'up', admin: 'enabled', ...views[b] }));
  return Object.fromEntries(p.backends.map((x) => [x.name, { inChain: x.inChain, share: x.share }]));
}

const cases: { name: string; views: Record<string, Partial<BackendView>>; want: Record<string, number> }[] = [
  { name: 'all up: only priority 1, by weight', views: {}, want: { a: 0.25, b: 0.75, c: 0 } },
  { name: 'a down', views: { a: { health: 'down' } }, want: { a: 0, b: 1, c: 0 } },
  { name: 'unknown health counts as usable', views: { a: { health: 'unknown' } }, want: { a: 0.25, b: 0.75, c: 0 } },
  { name: 'drain leaves the chain', views: { b: { admin: 'drain' } }, want: { a: 1, b: 0, c: 0 } },
  { name: 'maintenance leaves the chain', views: { a: { admin: 'maintenance' } }, want: { a: 0, b: 1, c: 0 } },
  { name: 'group 1 all down: group 2 serves', views: { a: { health: 'down' }, b: { admin: 'drain' } }, want: { a: 0, b: 0, c: 1 } },
  { name: 'everything down: nobody', views: { a: { health: 'down' }, b: { health: 'down' }, c: { health: 'down' } }, want: { a: 0, b: 0, c: 0 } },
  { name: 'slow start scales the weight', views: { b: { weightFactor: 1 / 3 } }, want: { a: 0.5, b: 0.5, c: 0 } },
  { name: 'leastconn load scales the weight, with slow start', views: { b: { loadFactor: 1 / 3 } }, want: { a: 0.5, b: 0.5, c: 0 } },
  { name: 'leastconn and slow start multiply', views: { b: { loadFactor: 1 / 3, weightFactor: 1 / 3 } }, want: { a: 0.75, b: 0.25, c: 0 } },
  { name: 'a full backend leaves the chain (max_conns)', views: { a: { full: true } }, want: { a: 0, b: 1, c: 0 } },
  { name: 'group 1 all full: the backups take the overflow', views: { a: { full: true }, b: { full: true } }, want: { a: 0, b: 0, c: 1 } },
  { name: 'all full is all down: nobody, the farm refuses', views: { a: { full: true }, b: { full: true }, c: { full: true } }, want: { a: 0, b: 0, c: 0 } },
];

for (const c of cases) {
  test(`plan: ${c.name}`, () => {
    const got = planWith(c.views);
    for (const [name, share] of Object.entries(c.want)) {
      assert.ok(Math.abs(got[name]!.share - share) < 1e-12, `${name}: share ${got[name]!.share}, want ${share}`);
      assert.equal(got[name]!.inChain, share > 0, `${name} inChain`);
    }
  });
}
