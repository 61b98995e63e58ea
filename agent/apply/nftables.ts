// Netfilter over nft: every change is one transaction on the agent's own table only, a farm's
// change through a long-lived `nft -i` (else `nft -f -`); what was applied is kept in memory per
// farm, so applying never lists the kernel (only adopt/verify/repair do) nor walks every farm.
// What is kept is what a diff or a drift check reads (chain digests, sets, map elements), not
// the rules' text, which is most of a render: the text is rendered again when someone asks for it.

import { ofFamily, type DesiredState, type PlannedFarm } from '../plan/plan.js';
import { touchedFarms } from '../render/common.js';
import { diffNft, type NftTransaction } from '../render/nft-diff.js';
import { NFT_NAMES, formatFull, tableRef, type NftChainState, type NftFamily, type NftModel, type NftSet, type NftState } from '../render/nft-model.js';
import { assembleNft, renderNftFarm, type NftFarmRender } from '../render/nftables.js';
import { ABSENT, compareNft, parseNftJson, type NftDifference, type NftObserved } from './nft-observe.js';
import { ApplyError, type ChangedObject, type DriftReport, type Netfilter, type SyncResult } from './netfilter.js';
import { NftSession } from './nft-session.js';
import { ExecaRunner, describeFailure, type RunOptions, type Runner } from './runner.js';

export interface NftOptions {
  /** The nft binary (default "nft", found on PATH). */
  readonly command?: string;
  readonly timeoutMs?: number;
  /**
   * Changes through one long-lived `nft -i` (true, or the argv that starts nft there) rather than
   * an `nft -f` each. Default: on when the runner runs commands on this host (ExecaRunner).
   */
  readonly session?: boolean | readonly string[];
  /** Which of the agent's tables this instance owns (default ip: IPv4 farms; ip6: IPv6 farms). */
  readonly family?: NftFamily;
  /** Told each ruleset writer's pid at spawn (`nft -f`, the session's `nft -i`), released at its exit. */
  readonly onSpawn?: RunOptions['onSpawn'];
}

/** Session processes that die in a row before the driver stops using them and stays with `nft -f`. */
const SESSION_FAILURES = 3;

const fullReplace = (model: NftModel): NftTransaction => ({ text: formatFull(model), rewritten: [...model.chains.keys()], deleted: [] });

/** The maps whose elements bring a shared part into the table: assembleNft adds the limits'
 * part (limit_dispatch, refuse, a rule in input and forward) and the direct part (the direct and
 * notrack maps, their chains, a rule in prerouting) only while some farm has an element in them. */
const SHARED_MAPS: readonly string[] = [NFT_NAMES.limits, NFT_NAMES.direct];

/** A farm's render without its rules: what diffs and drift checks read of it. */
interface FarmState {
  readonly chains: readonly (NftChainState & { readonly name: string })[];
  readonly sets: readonly NftSet[];
  readonly elements: NftFarmRender['elements'];
  /** Its first element in each of SHARED_MAPS it fills: what keeps a shared part for it. */
  readonly shared: NftFarmRender['elements'];
}

/** A farm as applied: what it was rendered from (to render it again for appliedText) and its state. */
interface AppliedFarm {
  readonly farm: PlannedFarm;
  readonly logGroup: number | undefined;
  readonly state: FarmState;
}

export function farmState(render: NftFarmRender): FarmState {
  return {
    chains: render.chains.map(({ name, digest, base }) => ({ name, digest, ...(base ? { base } : {}) })),
    sets: render.sets,
    elements: render.elements,
    shared: SHARED_MAPS.flatMap((map) => render.elements.find((e) => e.map === map) ?? []),
  };
}

/** The whole table's state from its farms' states: the fixed part as assembleNft makes it. */
export function assembleState(mask: number, farms: readonly FarmState[], family: NftFamily): NftState {
  const fixed = assembleNft(mask, farms.map((f) => ({ chains: [], sets: f.sets, elements: f.elements })), family);
  const chains = new Map<string, NftChainState>(fixed.chains);
  for (const farm of farms) for (const chain of farm.chains) chains.set(chain.name, chain);
  return { chains, sets: fixed.sets, elements: fixed.elements };
}

export class NftCli implements Netfilter {
  readonly driver = 'nftables' as const;
  /** Each farm as the kernel holds it, when `kernel` is undefined: a change then costs a render
   * and diff of the farms it names, never a pass over all of them. */
  private readonly applied = new Map<string, AppliedFarm>();
  private appliedMask: number | undefined;
  /** What the next sync diffs against instead: the table as read back (after adopt, repair), or
   * ABSENT while nothing is known (a fresh instance that did not adopt, after removeAll). */
  private kernel: NftState | undefined = ABSENT;
  /** The table as listed at adopt, shown by appliedText until the next sync. */
  private adoptedText = '';
  /** The kernel's view of the table once seen to match what was applied (set by adopt/verify). */
  private baseline: ReadonlyMap<string, string> | undefined;
  /** Set after a failed apply: the next sync first re-reads the kernel (kube-proxy's "full sync"). */
  private needsAdopt = false;
  private session: NftSession | undefined;
  private sessionFailures = 0;
  private readonly family: NftFamily;
  private readonly table: string;

  constructor(private readonly runner: Runner, private readonly options: NftOptions = {}) {
    this.family = options.family ?? 'ip';
    this.table = tableRef(this.family);
    const { session = runner instanceof ExecaRunner } = options;
    const argv = session === true ? [options.command ?? 'nft'] : session || undefined;
    if (argv) this.session = new NftSession({ argv, timeoutMs: options.timeoutMs ?? 30_000, ...(options.onSpawn ? { onSpawn: options.onSpawn } : {}) });
  }

  async adopt(): Promise<void> {
    const observed = await this.observe();
    this.setKernel(observed);
    this.baseline = observed.snapshot;
    this.adoptedText = observed.present ? await this.listText() : '';
    this.needsAdopt = false;
  }

  async sync(all: DesiredState, changed?: ReadonlySet<string>): Promise<SyncResult> {
    const desired = this.own(all);
    if (this.needsAdopt) await this.adopt();
    if (this.kernel || !changed || this.appliedMask !== desired.markMask) return this.syncAll(desired);
    const started = performance.now();
    const byName = new Map(desired.farms.map((farm) => [farm.name, farm]));
    const before: FarmState[] = [];
    const after = new Map<string, { farm: PlannedFarm; render: NftFarmRender } | undefined>();
    for (const name of touchedFarms(changed, this.applied.keys(), byName.keys())) {
      const old = this.applied.get(name);
      if (old) before.push(old.state);
      const farm = byName.get(name);
      after.set(name, farm && { farm, render: renderNftFarm(farm, desired.markMask, desired.logGroup) });
    }
    const renders = [...after.values()].flatMap((a) => (a ? [a.render] : []));
    // A shared part is in the table while any farm uses it, so both sides are put together with
    // one element of each shared map an untouched farm fills, the same on both sides (so the diff
    // leaves it be). Put together from the touched farms alone, a farm leaving a shared part would
    // delete what the untouched farms still use, and one joining it would add its chains' rules again.
    const kept = { chains: [], sets: [], elements: this.sharedElements(after), shared: [] };
    before.push(kept);
    renders.push(kept);
    const tx = diffNft(assembleState(desired.markMask, before, this.family), assembleNft(desired.markMask, renders, this.family));
    const done = tx ? await this.bringTo(tx, () => this.fullModel(desired), true) : { changed: false, rewritten: [], deleted: [] };
    for (const [name, a] of after) {
      if (a) this.applied.set(name, { farm: a.farm, logGroup: desired.logGroup, state: farmState(a.render) });
      else this.applied.delete(name);
    }
    this.committed(desired.markMask, done.changed);
    return { ...done, durationMs: performance.now() - started };
  }

  async verify(): Promise<DriftReport> {
    const observed = await this.observe();
    const differences = compareNft(this.appliedState(), observed, this.baseline).map((d) => d.message);
    // The first check after an apply that finds the kernel as applied records what it looks like,
    // so later checks also see rules changed in place.
    if (differences.length === 0 && !this.baseline) this.baseline = observed.snapshot;
    return { inSync: differences.length === 0, differences };
  }

  async repair(all: DesiredState, changed?: readonly ChangedObject[]): Promise<SyncResult> {
    const desired = this.own(all);
    if (changed && !this.needsAdopt && this.appliedMask !== undefined) return this.rewrite(desired, changed.filter((o) => o.family === this.family));
    const observed = await this.observe();
    const drift = compareNft(this.appliedState(), observed, this.baseline);
    // Chains and maps named in the drift are rewritten even when their tags still look right.
    const named = (kind: NftDifference['kind']) => new Set(drift.filter((d) => d.kind === kind).map((d) => d.name));
    const badChains = named('chain');
    this.setKernel({
      chains: new Map([...observed.chains].map(([name, c]) => [name, badChains.has(name) ? { ...c, digest: 'drift' } : c])),
      sets: observed.sets,
      elements: observed.elements,
      dirtyMaps: new Set([...(observed.dirtyMaps ?? []), ...named('map')]),
    });
    this.needsAdopt = false;
    return this.syncAll(desired);
  }

  /**
   * Rewrites the objects an event named from what was applied, without reading the table (which
   * costs seconds at 10k backends): chains flushed and refilled, maps refilled, deleted ones
   * created again, foreign ones deleted. Should the kernel not be as assumed (an object already
   * gone), the transaction fails and bringTo falls back to reading the table.
   */
  private async rewrite(desired: DesiredState, changed: readonly ChangedObject[]): Promise<SyncResult> {
    if (changed.length === 0) return { changed: false, durationMs: 0, rewritten: [], deleted: [] };
    const applied = this.appliedState();
    const chains = new Map(applied.chains);
    const sets = new Map(applied.sets);
    const elements = new Map(applied.elements);
    const dirtyMaps = new Set(applied.dirtyMaps ?? []);
    for (const o of changed) {
      if (o.kind === 'chain') {
        if (o.deleted) chains.delete(o.name);
        // Known or not (a chain someone added to the agent's table): rewritten, or deleted.
        else chains.set(o.name, { ...chains.get(o.name), digest: 'drift' });
      } else if (o.deleted) {
        sets.delete(o.name);
        elements.delete(o.name);
      } else if (!sets.has(o.name)) {
        sets.set(o.name, { kind: 'set' });
      } else if (elements.has(o.name)) {
        dirtyMaps.add(o.name);
      }
    }
    this.setKernel({ chains, sets, elements, dirtyMaps });
    return this.syncAll(desired);
  }

  appliedText(): string {
    if (this.kernel) return this.adoptedText;
    const mask = this.appliedMask ?? 0;
    return formatFull(assembleNft(mask, [...this.applied.values()].map((a) => renderNftFarm(a.farm, mask, a.logGroup)), this.family));
  }

  async removeAll(): Promise<void> {
    // `add` first makes the delete succeed whether or not the table exists.
    await this.apply(`add table ${this.table}\ndelete table ${this.table}\n`);
    // The agent is stopping: no nft process is left behind (a later change starts another).
    this.session?.close();
    this.setKernel(ABSENT);
    this.adoptedText = '';
    this.baseline = undefined;
  }

  /** The farms this instance's table holds: those of its family. */
  private own(desired: DesiredState): DesiredState {
    return ofFamily(desired, this.family === 'ip6' ? 'ipv6' : 'ipv4');
  }

  /** One element of each shared map that an applied farm not in `touched` fills. */
  private sharedElements(touched: ReadonlyMap<string, unknown>): NftFarmRender['elements'] {
    const found = new Map<string, NftFarmRender['elements'][number]>();
    for (const [name, applied] of this.applied) {
      if (found.size === SHARED_MAPS.length) break;
      if (touched.has(name)) continue;
      for (const e of applied.state.shared) if (!found.has(e.map)) found.set(e.map, e);
    }
    return [...found.values()];
  }

  /** Every farm rendered, diffed against what is known. */
  private async syncAll(desired: DesiredState): Promise<SyncResult> {
    const started = performance.now();
    const renders = desired.farms.map((farm) => ({ farm, render: renderNftFarm(farm, desired.markMask, desired.logGroup) }));
    const model = assembleNft(desired.markMask, renders.map((r) => r.render), this.family);
    const from = this.appliedState();
    // Knowing of no chain (a fresh instance that did not adopt, or no table): replace the table
    // whole, so rules of an unknown earlier run are never appended to.
    const tx = from.chains.size === 0 ? fullReplace(model) : diffNft(from, model);
    // Only the states outlive this: the renders are garbage while nft works (seconds at the
    // largest sizes); a failed apply renders again.
    const applied = renders.map(({ farm, render }): [string, AppliedFarm] => [farm.name, { farm, logGroup: desired.logGroup, state: farmState(render) }]);
    const done = tx ? await this.bringTo(tx, () => this.fullModel(desired)) : { changed: false, rewritten: [], deleted: [] };
    this.applied.clear();
    for (const [name, farm] of applied) this.applied.set(name, farm);
    this.committed(desired.markMask, done.changed);
    return { ...done, durationMs: performance.now() - started };
  }

  private fullModel(desired: DesiredState): NftModel {
    return assembleNft(desired.markMask, desired.farms.map((farm) => renderNftFarm(farm, desired.markMask, desired.logGroup)), this.family);
  }

  /** What the kernel is known to hold: as read back, else the applied farms put together (built
   * for each verify or repair, which are rare, rather than kept). */
  private appliedState(): NftState {
    return this.kernel ?? assembleState(this.appliedMask ?? 0, [...this.applied.values()].map((a) => a.state), this.family);
  }

  private setKernel(state: NftState): void {
    this.kernel = state;
    this.applied.clear();
  }

  private committed(mask: number, changedKernel: boolean): void {
    this.kernel = undefined;
    this.adoptedText = '';
    this.appliedMask = mask;
    if (changedKernel) this.baseline = undefined;
  }

  /** Apply `first`; on failure re-read the kernel and diff again; last, replace the table whole. */
  private async bringTo(first: NftTransaction, model: () => NftModel, viaSession = false): Promise<Omit<SyncResult, 'durationMs'>> {
    let tx = first;
    try {
      await (viaSession ? this.applyInSession(tx.text) : this.apply(tx.text));
    } catch (err) {
      try {
        // Someone may have changed the table behind our back: diff against what is really there.
        const observed = await this.observe();
        tx = (observed.chains.size === 0 ? fullReplace(model()) : diffNft(observed, model())) ?? { text: '', rewritten: [], deleted: [] };
        if (tx.text) await this.apply(tx.text);
      } catch {
        try {
          tx = fullReplace(model());
          await this.apply(tx.text);
        } catch {
          // The kernel is unchanged (each attempt was one transaction); report the first refusal.
          this.needsAdopt = true;
          throw err instanceof ApplyError ? err : new ApplyError(String(err), first.text, { cause: err });
        }
      }
    }
    return { changed: true, rewritten: tx.rewritten, deleted: tx.deleted };
  }

  /** Through the session when there is one (refused: as `nft -f` would refuse); else `nft -f`. */
  private async applyInSession(text: string): Promise<void> {
    const session = this.session;
    if (!session || !NftSession.fits(text)) return this.apply(text);
    let out: string;
    try {
      out = await session.run(text);
    } catch (err) {
      // Whether the last line was committed is unknown: the caller re-reads the kernel.
      if (++this.sessionFailures >= SESSION_FAILURES) {
        this.session?.close();
        this.session = undefined;
      }
      throw new ApplyError(`nft session failed: ${(err as Error).message}`, text, { cause: err });
    }
    this.sessionFailures = 0;
    if (out.trim()) throw new ApplyError(`nft refused the transaction: ${out.trim()}`, text);
  }

  private async apply(text: string): Promise<void> {
    const result = await this.runner.run(this.options.command ?? 'nft', ['-f', '-'], {
      input: text,
      timeoutMs: this.options.timeoutMs ?? 30_000,
      ...(this.options.onSpawn ? { onSpawn: this.options.onSpawn } : {}),
    });
    if (result.exitCode !== 0 || result.timedOut || result.spawnError) throw new ApplyError(describeFailure(result), text);
  }

  private async observe(): Promise<NftObserved> {
    const result = await this.runner.run(this.options.command ?? 'nft', ['-j', '-s', 'list', 'table', ...this.table.split(' ')], { timeoutMs: this.options.timeoutMs ?? 30_000 });
    if (result.exitCode !== 0 && !result.timedOut && /No such file or directory/.test(result.stderr)) return ABSENT;
    if (result.exitCode !== 0 || result.timedOut || result.spawnError) throw new ApplyError(`cannot read the table ${this.table}: ${describeFailure(result)}`);
    try {
      return parseNftJson(result.stdout, this.family);
    } catch (err) {
      throw new ApplyError(`cannot read the table ${this.table}: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  private async listText(): Promise<string> {
    const result = await this.runner.run(this.options.command ?? 'nft', ['-s', 'list', 'table', ...this.table.split(' ')], { timeoutMs: this.options.timeoutMs ?? 30_000 });
    return result.exitCode === 0 ? result.stdout : '';
  }
}
