// What the three LBs say about themselves: backend health in `agentctl status`, and the
// rulesets they applied (`agentctl rules`), which must be the same text on every LB.

import assert from 'node:assert/strict';
import { waitFor } from '../netns/topology.js';
import { agentStatus } from '../support/agent.js';
import type { Status } from '../../agent/control/status.js';
import { LBS, type ActiveActive, type LbName } from './topology.js';

/** Waits until every LB reports `backend` of `farm` with `health`. */
export async function waitHealth(aa: ActiveActive, farm: string, backend: string, health: 'up' | 'down', timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => {
    const statuses = await Promise.all(LBS.map((lb) => agentStatus<Status>(aa.dirs[lb].socket, { timeoutMs: 5000 })));
    const ok = statuses.every((s) => s.farms.find((f) => f.name === farm)?.backends.find((b) => b.name === backend)?.health === health);
    return ok ? true : undefined;
  }, { timeoutMs, intervalMs: 100, what: `${farm}/${backend} to be ${health} on every LB` });
}

/** `agentctl rules` without its comment lines: the ruleset an LB applied. */
export async function appliedRules(aa: ActiveActive, lb: LbName): Promise<string> {
  const r = await aa.ctl(lb, ['rules']);
  assert.equal(r.exitCode, 0, `agentctl rules on ${lb}: ${r.stdout}${r.stderr}`);
  return r.stdout.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n');
}

/** Asserts the three LBs applied the same ruleset (hence the same bucket tables), holding `backend`'s mark; returns its size in lines. */
export async function assertSameTables(aa: ActiveActive, farm: string): Promise<number> {
  const rules = await Promise.all(LBS.map((lb) => appliedRules(aa, lb)));
  for (const [i, text] of rules.entries()) {
    assert.equal(text, rules[0], `${LBS[i]}'s applied rules differ from lb1's`);
  }
  assert.match(rules[0]!, new RegExp(farm), `the rules name the farm ${farm}`);
  return rules[0]!.split('\n').length;
}
