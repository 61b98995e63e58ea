// Netfilter over iptables-restore --noflush (or ip6tables-restore, for the IPv6 farms): every change
// is one transaction of only the agent's chains; the applied ruleset is kept in memory so no apply
// lists the kernel.

import { touchedFarms } from '../render/common.js';
import { renderFarm, assembleRuleset, formatRestore, sharedParts, type FarmRender } from '../render/iptables.js';
import { emptyRuleset, chainKey, jumpKey, jumpsFor, DISPATCH_CHAINS, CHAINS, type Chain, type IpSet, type Ruleset, type Table } from '../render/ruleset.js';
import { IpsetCli } from './ipset.js';
import type { IpFamily } from '../../config/net.js';
import { ofFamily, type DesiredState } from '../plan/plan.js';
import { parseIptablesSave, normalizeRule } from './iptables-save.js';
import { buildTransaction } from './transaction.js';
import { ApplyError, type DriftReport, type Netfilter, type SyncResult } from './netfilter.js';
import { describeFailure, type RunOptions, type Runner } from './runner.js';

export interface IptablesOptions {
  /** The farms this instance applies, by VIP family (default ipv4: iptables; ipv6: ip6tables). */
  readonly family?: IpFamily;
  readonly restoreCommand?: string;
  readonly saveCommand?: string;
  /** The ipset binary (the VIP sets of the dispatch). */
  readonly ipsetCommand?: string;
  readonly timeoutMs?: number;
  /** Told each ruleset writer's pid at spawn (iptables-restore), released at its exit: see RunOptions. */
  readonly onSpawn?: RunOptions['onSpawn'];
}

/** Kept while empty: the dispatch chains the built-in chains always jump to. */
const keptEmpty = (name: string): boolean => DISPATCH_CHAINS.some((c) => c.name === name);
/** Shared chains that exist only while in use. */
const SHARED_OPTIONAL = [chainKey('filter', CHAINS.refuse)];

export class IptablesRestore implements Netfilter {
  readonly driver = 'iptables' as const;
  private applied: Ruleset = emptyRuleset();
  /** The whole desired ruleset, updated farm by farm so a change costs O(that farm). */
  private desiredChains = new Map<string, Chain>();
  /** The ipsets the desired rules match on (the VIP split), rebuilt with them. */
  private desiredSets = new Map<string, IpSet>();
  private readonly ipsets: IpsetCli;
  private readonly renders = new Map<string, FarmRender>();
  private renderedMask: number | undefined;
  /** Set after a failed apply: the next sync first re-reads the kernel (kube-proxy's "full sync"). */
  private needsObserve = false;

  private readonly family: IpFamily;
  private readonly restoreCommand: string;
  private readonly saveCommand: string;

  constructor(private readonly runner: Runner, private readonly options: IptablesOptions = {}) {
    this.family = options.family ?? 'ipv4';
    const tool = this.family === 'ipv6' ? 'ip6tables' : 'iptables';
    this.restoreCommand = options.restoreCommand ?? `${tool}-restore`;
    this.saveCommand = options.saveCommand ?? `${tool}-save`;
    this.ipsets = new IpsetCli(runner, this.family === 'ipv6' ? 'inet6' : 'inet', { command: options.ipsetCommand, timeoutMs: options.timeoutMs });
  }

  async adopt(): Promise<void> {
    this.applied = await this.observe();
    await this.ipsets.adopt();
    this.needsObserve = false;
  }

  async sync(all: DesiredState, changed?: ReadonlySet<string>): Promise<SyncResult> {
    const desired = ofFamily(all, this.family);
    const full = this.needsObserve || !changed || this.renderedMask !== desired.markMask;
    if (this.needsObserve) await this.adopt();
    const scope = full ? this.renderAll(desired) : this.renderChanged(desired, changed);
    const ruleset: Ruleset = { chains: this.desiredChains, jumps: jumpsFor(this.desiredChains), sets: this.desiredSets };
    try {
      return await this.applyRuleset(ruleset, scope);
    } catch (err) {
      // Someone may have changed our chains behind our back (a -D that no longer matches):
      // re-read the kernel and try once more, comparing everything, from what is really there.
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

  async repair(all: DesiredState): Promise<SyncResult> {
    const desired = ofFamily(all, this.family);
    this.applied = await this.observe();
    await this.ipsets.adopt();
    this.renderAll(desired);
    return this.applyRuleset({ chains: this.desiredChains, jumps: jumpsFor(this.desiredChains), sets: this.desiredSets });
  }

  appliedText(): string {
    return formatRestore(this.applied);
  }

  async removeAll(): Promise<void> {
    await this.adopt();
    this.renders.clear();
    this.desiredChains = new Map();
    this.desiredSets = new Map();
    this.renderedMask = undefined;
    await this.applyRuleset({ ...emptyRuleset(), sets: new Map() });
  }

  private renderAll(desired: DesiredState): undefined {
    this.renders.clear();
    this.renderedMask = desired.markMask;
    for (const farm of desired.farms) this.renders.set(farm.name, renderFarm(farm, desired.markMask, desired.logGroup));
    const ruleset = assembleRuleset(desired.markMask, [...this.renders.values()], this.family);
    this.desiredChains = new Map(ruleset.chains);
    this.desiredSets = new Map(ruleset.sets);
    return undefined;
  }

  /** Re-renders only the named farms (and farms added or removed); returns the chains touched. */
  private renderChanged(desired: DesiredState, changed: ReadonlySet<string>): Set<string> {
    const byName = new Map(desired.farms.map((f) => [f.name, f]));
    const names = touchedFarms(changed, this.renders.keys(), byName.keys());
    const scope = new Set<string>();
    // Dispatch chains are sets: edit them rule by rule, copying only the chains that change.
    const edited = new Map<string, { table: Table; name: string; rules: string[] }>();
    const rulesOf = (table: Table, chain: string): string[] => {
      const key = chainKey(table, chain);
      let entry = edited.get(key);
      if (!entry) {
        entry = { table, name: chain, rules: [...(this.desiredChains.get(key)?.rules ?? [])] };
        edited.set(key, entry);
      }
      return entry.rules;
    };
    for (const name of names) {
      const old = this.renders.get(name);
      const farm = byName.get(name);
      const next = farm ? renderFarm(farm, desired.markMask, desired.logGroup) : undefined;
      for (const chain of old?.chains ?? []) {
        scope.add(chainKey(chain.table, chain.name));
        this.desiredChains.delete(chainKey(chain.table, chain.name));
      }
      for (const chain of next?.chains ?? []) {
        scope.add(chainKey(chain.table, chain.name));
        this.desiredChains.set(chainKey(chain.table, chain.name), chain);
      }
      if (next) this.renders.set(name, next);
      else this.renders.delete(name);
      const before = old?.dispatch ?? [];
      const after = next?.dispatch ?? [];
      const same = before.length === after.length && before.every((d, i) => d.table === after[i]!.table && d.chain === after[i]!.chain && d.rule === after[i]!.rule);
      if (same) continue;
      for (const d of before) {
        const rules = rulesOf(d.table, d.chain);
        const at = rules.indexOf(d.rule);
        if (at >= 0) rules.splice(at, 1);
      }
      for (const d of after) rulesOf(d.table, d.chain).push(d.rule);
    }
    for (const [key, { table, name, rules }] of edited) {
      const chain = this.desiredChains.get(key) ?? { table, name, kind: 'set' as const, rules: [] };
      // The helpers', limits' and bucket chains (and the jumps to them) are there only while in use.
      if (rules.length === 0 && !keptEmpty(name)) this.desiredChains.delete(key);
      else this.desiredChains.set(key, { ...chain, rules });
      scope.add(key);
    }
    // The bucket heads, VIP sets and the refusal chain follow from every farm: recomputed (cheap:
    // a line per bucket), and rewritten only when they differ.
    const shared = sharedParts(desired.markMask, this.renders.values(), this.family);
    const sharedKeys = new Set(shared.chains.map((c) => chainKey(c.table, c.name)));
    for (const chain of shared.chains) {
      const key = chainKey(chain.table, chain.name);
      const had = this.desiredChains.get(key);
      if (had && had.rules.length === chain.rules.length && had.rules.every((r, i) => r === chain.rules[i])) continue;
      this.desiredChains.set(key, chain);
      scope.add(key);
    }
    for (const key of SHARED_OPTIONAL) {
      if (!sharedKeys.has(key) && this.desiredChains.delete(key)) scope.add(key);
    }
    this.desiredSets = shared.sets;
    return scope;
  }

  private async applyRuleset(ruleset: Ruleset, scope?: ReadonlySet<string>): Promise<SyncResult> {
    const started = performance.now();
    const tx = buildTransaction(this.applied, ruleset, scope);
    // Sets first (created, members added), so every rule finds the sets it names; members and
    // sets no longer wanted go after, once no rule refers to them.
    const sets = ruleset.sets ?? new Map<string, IpSet>();
    await this.ipsets.grow(sets);
    if (tx) {
      const result = await this.runner.run(this.restoreCommand, ['--noflush', '-w', '5'], {
        input: tx.text,
        timeoutMs: this.options.timeoutMs ?? 30_000,
        ...(this.options.onSpawn ? { onSpawn: this.options.onSpawn } : {}),
      });
      if (result.exitCode !== 0 || result.timedOut) throw new ApplyError(describeFailure(result), tx.text);
    }
    this.recordApplied(ruleset, scope);
    await this.ipsets.shrink(sets);
    return { changed: tx !== null, durationMs: performance.now() - started, rewritten: tx?.rewritten ?? [], deleted: tx?.deleted ?? [] };
  }

  /** What the kernel now holds: a copy, since the desired map keeps changing in place. */
  private recordApplied(ruleset: Ruleset, scope?: ReadonlySet<string>): void {
    if (!scope) {
      this.applied = { chains: new Map(ruleset.chains), jumps: ruleset.jumps };
      return;
    }
    const chains = this.applied.chains as Map<string, Chain>;
    for (const key of scope) {
      const chain = ruleset.chains.get(key);
      if (chain) chains.set(key, chain);
      else chains.delete(key);
    }
    this.applied = { chains, jumps: ruleset.jumps };
  }

  private async observe(): Promise<Ruleset> {
    const result = await this.runner.run(this.saveCommand, [], { timeoutMs: this.options.timeoutMs ?? 30_000 });
    if (result.exitCode !== 0 || result.timedOut) throw new ApplyError(`cannot read the kernel's rules: ${describeFailure(result)}`);
    return parseIptablesSave(result.stdout);
  }
}

/** Differences between what was applied and what the kernel holds, one line each. */
function compareRulesets(applied: Ruleset, observed: Ruleset): DriftReport {
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
