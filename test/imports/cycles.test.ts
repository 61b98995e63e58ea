// No import cycle among the agent's modules: a service that imports the daemon back, or two
// modules that need each other, make the layers unreadable and tests build god objects. Type-only
// and dynamic imports count too: they tie the modules together for a reader just the same.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importCycles, importGraph } from './graph.js';

test('agent/**, checks/** and config/** import no module that imports them back', () => {
  const graph = importGraph(['agent', 'checks', 'config']);
  assert.ok(graph.size > 50, `only ${graph.size} modules found: is the source tree where the test looks?`);
  const cycles = importCycles(graph);
  assert.deepEqual(cycles.map((t) => `${t.cycle.join(' -> ')} (${t.modules.length} modules tangled: ${t.modules.join(', ')})`), []);
});

test('the check finds every tangle and shows one cycle of each', () => {
  const graph = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts', 'd.ts']],
    ['d.ts', []],
    ['e.ts', ['e.ts']],
  ]);
  assert.deepEqual(importCycles(graph), [
    { cycle: ['a.ts', 'b.ts', 'c.ts', 'a.ts'], modules: ['a.ts', 'b.ts', 'c.ts'] },
    { cycle: ['e.ts', 'e.ts'], modules: ['e.ts'] },
  ]);
});
