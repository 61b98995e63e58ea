// Netfilter over iptables-restore --noflush: every change is one transaction of only the
// agent's chains; the applied ruleset is kept in memory so no apply lists the kernel.

import { renderFarm, assembleRuleset, formatRestore, type FarmRender } from '../render/iptables.js';
import { emptyRuleset, chainKey, jumpKey, type Ruleset } from '../render/ruleset.js';
import type { DesiredState } from '../plan/plan.js';
import { parseIptablesSave, normalizeRule } from './iptables-save.js';
import { buildTransaction } from './transaction.js';
import { ApplyError, type DriftReport, type Netfilter, type SyncResult } from './netfilter.js';
import { describeFailure, type Runner } from './runner.js';

export interface IptablesOptions {
  readonly restoreCommand?: string;
  readonly saveCommand?: string;
  readonly timeoutMs?: number;
}

export class IptablesRestore implements Netfilter {
  readonly driver = 'iptables' as const;
  private applied: Ruleset = emptyRuleset();
  private readonly renders = new Map<string, FarmRender>();
  private renderedMask: number | undefined;
  /** Set after a failed apply: the next sync first re-reads the kernel (kube-proxy's "full sync"). */
  private needsObserve = false;

  constructor(private readonly runner: Runner, private readonly options: IptablesOptions = {}) {}

  async adopt(): Promise<void> {
    this.applied = await this.observe();
    this.needsObserve = false;
  }

  async sync(desired: DesiredState, changed?: ReadonlySet<string>): Promise<SyncResult> {
    if (this.needsObserve) await this.adopt();
    const ruleset = this.desiredRuleset(desired, changed);
    try {
      return await this.applyRuleset(ruleset);
    } catch (err) {
      // Someone may have changed our chains behind our back (a -D that no longer matches):
      // re-read the kernel and try once more from what is really there.
      this.applied = await this.observe();
      try {
        return await this.applyRuleset(ruleset);
      } catch (again) {
        this.needsObserve = true;
        throw again instanceof ApplyError ? again : new ApplyError(String(again), undefined, { cause: err });
      }
    }
  }

  async verify(): Promise<DriftReport> {
    const observed = await this.observe();
    return compareRulesets(this.applied, observed);
  }

  async repair(desired: DesiredState): Promise<SyncResult> {
    this.applied = await this.observe();
    return this.applyRuleset(this.desiredRuleset(desired));
  }

  appliedText(): string {
    return formatRestore(this.applied);
  }

  async removeAll(): Promise<void> {
    await this.adopt();
    this.renders.clear();
    await this.applyRuleset(emptyRuleset());
  }

  private desiredRuleset(desired: DesiredState, changed?: ReadonlySet<string>): Ruleset {
    if (this.renderedMask !== desired.markMask) {
      this.renders.clear();
      this.renderedMask = desired.markMask;
    }
    const live = new Set<string>();
    const renders = desired.farms.map((farm) => {
      live.add(farm.name);
      let render = this.renders.get(farm.name);
      if (!render || !changed || changed.has(farm.name)) {
        render = renderFarm(farm, desired.markMask);
        this.renders.set(farm.name, render);
      }
      return render;
    });
    for (const name of this.renders.keys()) if (!live.has(name)) this.renders.delete(name);
    return assembleRuleset(desired.markMask, renders);
  }

  private async applyRuleset(ruleset: Ruleset): Promise<SyncResult> {
    const started = performance.now();
    const tx = buildTransaction(this.applied, ruleset);
    if (!tx) {
      this.applied = ruleset;
      return { changed: false, durationMs: performance.now() - started, rewritten: [], deleted: [] };
    }
    const result = await this.runner.run(this.options.restoreCommand ?? 'iptables-restore', ['--noflush', '-w', '5'], {
      input: tx.text,
      timeoutMs: this.options.timeoutMs ?? 30_000,
    });
    if (result.exitCode !== 0 || result.timedOut) throw new ApplyError(describeFailure(result), tx.text);
    this.applied = ruleset;
    return { changed: true, durationMs: performance.now() - started, rewritten: tx.rewritten, deleted: tx.deleted };
  }

  private async observe(): Promise<Ruleset> {
    const result = await this.runner.run(this.options.saveCommand ?? 'iptables-save', [], { timeoutMs: this.options.timeoutMs ?? 30_000 });
    if (result.exitCode !== 0 || result.timedOut) throw new ApplyError(`cannot read the kernel's rules: ${describeFailure(result)}`);
    return parseIptablesSave(result.stdout);
  }
}

/** Differences between what was applied and what the kernel holds, one line each. */
export function compareRulesets(applied: Ruleset, observed: Ruleset): DriftReport {
  const differences: string[] = [];
  for (const [key, chain] of applied.chains) {
    const seen = observed.chains.get(key);
    if (!seen) { differences.push(`${key}: chain missing from the kernel`); continue; }
    const want = chain.rules.map(normalizeRule);
    const have = seen.rules;
    const [a, b] = chain.kind === 'ordered' ? [want, have] : [[...want].sort(), [...have].sort()];
    const same = a.length === b.length && a.every((r, i) => r === b[i]);
    if (!same) differences.push(`${key}: ${have.length} rules in the kernel differ from the ${want.length} applied`);
  }
  for (const key of observed.chains.keys()) if (!applied.chains.has(key)) differences.push(`${key}: chain in the kernel that the agent did not apply`);
  const seenJumps = new Set(observed.jumps.map(jumpKey));
  for (const jump of applied.jumps) if (!seenJumps.has(jumpKey(jump))) differences.push(`${chainKey(jump.table, jump.from)}: jump to ${jump.to} missing`);
  return { inSync: differences.length === 0, differences };
}
