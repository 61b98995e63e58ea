// The metric names the agent exports, read from a real scrape, so contrib/ files that name a
// metric the agent does not have (a typo, a rename) fail their test.

import { AgentMetrics } from '../../agent/metrics/registry.js';
import { sampleStatus } from '../control/fakes.js';
import { parsePrometheusText } from '../metrics/prom-text.js';

/** Every series name of a scrape with every family present (histogram _bucket/_sum/_count too). */
export async function exportedNames(): Promise<Set<string>> {
  const hook = { index: 0, kind: 'exec' as const, target: '/bin/true', queued: 0, delivered: 0, failed: 0, dropped: 0 };
  const metrics = new AgentMetrics({ processMetrics: false });
  metrics.observe({ type: 'check', farm: 'web', backend: 'b1', result: { ok: false, message: 'x', latencyMs: 1, at: 0 } });
  metrics.observe({ type: 'transition', farm: 'web', backend: 'b1', from: 'up', to: 'down', reason: 'x', at: 0 });
  metrics.observe({ type: 'applied', result: { changed: true, durationMs: 1, rewritten: [], deleted: [] }, farms: [], at: 0 });
  const families = parsePrometheusText(await metrics.scrape(sampleStatus(), { delivered: 0, failed: 0, dropped: 0, queued: 0, hooks: [hook] }));
  return new Set([...families.values()].flatMap((f) => [f.name, ...f.samples.map((s) => s.name)]));
}

/** The ha_agent_* names a PromQL expression uses. */
export const namesIn = (expr: string): string[] => [...expr.matchAll(/\bha_agent_[a-z0-9_]+/g)].map((m) => m[0]);
