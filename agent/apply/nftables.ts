// Netfilter over `nft -f -`: every change is one transaction on the agent's own table only; what
// was applied is kept in memory, so applying never lists the kernel (only adopt/verify/repair do).

import type { DesiredState } from '../plan/plan.js';
import { diffNft, type NftTransaction } from '../render/nft-diff.js';
import { TABLE_REF, formatFull, type NftModel, type NftState } from '../render/nft-model.js';
import { assembleNft, renderNftFarm, type NftFarmRender } from '../render/nftables.js';
import { ABSENT, compareNft, parseNftJson, type NftObserved } from './nft-observe.js';
import { ApplyError, type DriftReport, type Netfilter, type SyncResult } from './netfilter.js';
import { describeFailure, type Runner } from './runner.js';

export interface NftOptions {
  /** The nft binary (default "nft", found on PATH). */
  readonly command?: string;
  readonly timeoutMs?: number;
}

const fullReplace = (model: NftModel): NftTransaction => ({ text: formatFull(model), rewritten: [...model.chains.keys()], deleted: [] });

export class NftCli implements Netfilter {
  readonly driver = 'nftables' as const;
  private applied: NftState = ABSENT;
  /** The full model when the agent rendered what is applied; absent right after adopt(). */
  private appliedModel: NftModel | undefined;
  private adoptedText = '';
  /** The kernel's view of the table once seen to match what was applied (set by adopt/verify). */
  private baseline: ReadonlyMap<string, string> | undefined;
  private readonly renders = new Map<string, NftFarmRender>();
  private renderedMask: number | undefined;
  /** Set after a failed apply: the next sync first re-reads the kernel (kube-proxy's "full sync"). */
  private needsAdopt = false;

  constructor(private readonly runner: Runner, private readonly options: NftOptions = {}) {}

  async adopt(): Promise<void> {
    const observed = await this.observe();
    this.applied = observed;
    this.appliedModel = undefined;
    this.baseline = observed.snapshot;
    this.adoptedText = observed.present ? await this.listText() : '';
    this.needsAdopt = false;
  }

  async sync(desired: DesiredState, changed?: ReadonlySet<string>): Promise<SyncResult> {
    if (this.needsAdopt) await this.adopt();
    return this.bringTo(this.desiredModel(desired, changed), this.applied);
  }

  async verify(): Promise<DriftReport> {
    const observed = await this.observe();
    const differences = compareNft(this.applied, observed, this.baseline);
    // The first check after an apply that finds the kernel as applied records what it looks like,
    // so later checks also see rules changed in place.
    if (differences.length === 0 && !this.baseline) this.baseline = observed.snapshot;
    return { inSync: differences.length === 0, differences };
  }

  async repair(desired: DesiredState): Promise<SyncResult> {
    const observed = await this.observe();
    const drift = compareNft(this.applied, observed, this.baseline);
    // Chains and maps named in the drift are rewritten even when their tags still look right.
    const named = (kind: string) => new Set(drift.filter((d) => d.startsWith(`${kind} `)).map((d) => d.slice(kind.length + 1).split(':')[0]!));
    const badChains = named('chain');
    const kernel: NftState = {
      chains: new Map([...observed.chains].map(([name, c]) => [name, badChains.has(name) ? { ...c, digest: 'drift' } : c])),
      sets: observed.sets,
      elements: observed.elements,
      dirtyMaps: new Set([...(observed.dirtyMaps ?? []), ...named('map')]),
    };
    this.needsAdopt = false;
    return this.bringTo(this.desiredModel(desired), kernel);
  }

  appliedText(): string {
    return this.appliedModel ? formatFull(this.appliedModel) : this.adoptedText;
  }

  async removeAll(): Promise<void> {
    // `add` first makes the delete succeed whether or not the table exists.
    await this.apply(`add table ${TABLE_REF}\ndelete table ${TABLE_REF}\n`);
    this.applied = ABSENT;
    this.appliedModel = undefined;
    this.adoptedText = '';
    this.baseline = undefined;
    this.renders.clear();
  }

  private desiredModel(desired: DesiredState, changed?: ReadonlySet<string>): NftModel {
    if (this.renderedMask !== desired.markMask) {
      this.renders.clear();
      this.renderedMask = desired.markMask;
    }
    const live = new Set<string>();
    const renders = desired.farms.map((farm) => {
      live.add(farm.name);
      let render = this.renders.get(farm.name);
      if (!render || !changed || changed.has(farm.name)) {
        render = renderNftFarm(farm, desired.markMask);
        this.renders.set(farm.name, render);
      }
      return render;
    });
    for (const name of this.renders.keys()) if (!live.has(name)) this.renders.delete(name);
    return assembleNft(desired.markMask, renders);
  }

  /** Diff against `from`; on failure re-read the kernel and diff again; last, replace the table whole. */
  private async bringTo(model: NftModel, from: NftState): Promise<SyncResult> {
    const started = performance.now();
    // Knowing of no chain (a fresh instance that did not adopt, or no table): replace the table
    // whole, so rules of an unknown earlier run are never appended to.
    const first = from.chains.size === 0 ? fullReplace(model) : diffNft(from, model);
    if (!first) {
      this.commit(model, false);
      return { changed: false, durationMs: performance.now() - started, rewritten: [], deleted: [] };
    }
    let tx = first;
    try {
      await this.apply(tx.text);
    } catch (err) {
      try {
        // Someone may have changed the table behind our back: diff against what is really there.
        const observed = await this.observe();
        tx = (observed.chains.size === 0 ? fullReplace(model) : diffNft(observed, model)) ?? { text: '', rewritten: [], deleted: [] };
        if (tx.text) await this.apply(tx.text);
      } catch {
        try {
          tx = fullReplace(model);
          await this.apply(tx.text);
        } catch {
          // The kernel is unchanged (each attempt was one transaction); report the first refusal.
          this.needsAdopt = true;
          throw err instanceof ApplyError ? err : new ApplyError(String(err), first.text, { cause: err });
        }
      }
    }
    this.commit(model, true);
    return { changed: true, durationMs: performance.now() - started, rewritten: tx.rewritten, deleted: tx.deleted };
  }

  private commit(model: NftModel, changedKernel: boolean): void {
    this.applied = model;
    this.appliedModel = model;
    if (changedKernel) this.baseline = undefined;
  }

  private async apply(text: string): Promise<void> {
    const result = await this.runner.run(this.options.command ?? 'nft', ['-f', '-'], { input: text, timeoutMs: this.options.timeoutMs ?? 30_000 });
    if (result.exitCode !== 0 || result.timedOut || result.spawnError) throw new ApplyError(describeFailure(result), text);
  }

  private async observe(): Promise<NftObserved> {
    const result = await this.runner.run(this.options.command ?? 'nft', ['-j', '-s', 'list', 'table', ...TABLE_REF.split(' ')], { timeoutMs: this.options.timeoutMs ?? 30_000 });
    if (result.exitCode !== 0 && !result.timedOut && /No such file or directory/.test(result.stderr)) return ABSENT;
    if (result.exitCode !== 0 || result.timedOut || result.spawnError) throw new ApplyError(`cannot read the table ${TABLE_REF}: ${describeFailure(result)}`);
    try {
      return parseNftJson(result.stdout);
    } catch (err) {
      throw new ApplyError(`cannot read the table ${TABLE_REF}: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  private async listText(): Promise<string> {
    const result = await this.runner.run(this.options.command ?? 'nft', ['-s', 'list', 'table', ...TABLE_REF.split(' ')], { timeoutMs: this.options.timeoutMs ?? 30_000 });
    return result.exitCode === 0 ? result.stdout : '';
  }
}
