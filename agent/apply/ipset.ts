// The agent's ipsets (the VIP sets the iptables dispatch matches on) over `ipset restore`: grown
// before the rules that name them are applied, shrunk after the rules that named them are gone.
// Kept in memory as applied, so an apply lists nothing; adopted from `ipset save` at start.

import { isOwnedSet, SETS, type IpSet } from '../render/ruleset.js';
import { ApplyError } from './netfilter.js';
import { describeFailure, type Runner } from './runner.js';

export interface IpsetOptions {
  readonly command?: string | undefined;
  readonly timeoutMs?: number | undefined;
}

/** Each set's members as a Set, by set name. */
type Held = Map<string, Set<string>>;

export class IpsetCli {
  private held: Held = new Map();

  constructor(private readonly runner: Runner, private readonly family: 'inet' | 'inet6', private readonly options: IpsetOptions = {}) {}

  /** Reads this family's sets of the agent back from the kernel (a restart keeps them). */
  async adopt(): Promise<void> {
    const result = await this.runner.run(this.command, ['save'], { timeoutMs: this.timeoutMs });
    if (result.exitCode !== 0 || result.timedOut || result.spawnError) throw new ApplyError(`cannot read the ipsets: ${describeFailure(result)}`);
    this.held = parseIpsetSave(result.stdout, SETS.prefix(this.family));
  }

  /** Creates the sets not held yet and adds the members they miss. */
  async grow(sets: ReadonlyMap<string, IpSet>): Promise<void> {
    const lines: string[] = [];
    for (const set of sets.values()) {
      const have = this.held.get(set.name);
      if (!have) lines.push(`create ${set.name} ${set.type} family ${set.family} -exist`);
      for (const member of set.members) if (!have?.has(member)) lines.push(`add ${set.name} ${member} -exist`);
    }
    await this.restore(lines);
    for (const set of sets.values()) {
      const have = this.held.get(set.name) ?? new Set<string>();
      for (const member of set.members) have.add(member);
      this.held.set(set.name, have);
    }
  }

  /** Removes the members and sets no longer wanted (no rule refers to them any more). */
  async shrink(sets: ReadonlyMap<string, IpSet>): Promise<void> {
    const lines: string[] = [];
    for (const [name, have] of this.held) {
      const want = sets.get(name);
      if (!want) {
        lines.push(`destroy ${name}`);
        continue;
      }
      const keep = new Set(want.members);
      for (const member of have) if (!keep.has(member)) lines.push(`del ${name} ${member} -exist`);
    }
    await this.restore(lines);
    for (const name of [...this.held.keys()]) {
      const want = sets.get(name);
      if (want) this.held.set(name, new Set(want.members));
      else this.held.delete(name);
    }
  }

  private get command(): string {
    return this.options.command ?? 'ipset';
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? 30_000;
  }

  private async restore(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const input = `${lines.join('\n')}\n`;
    const result = await this.runner.run(this.command, ['restore'], { input, timeoutMs: this.timeoutMs });
    if (result.exitCode !== 0 || result.timedOut || result.spawnError) throw new ApplyError(`ipset restore failed: ${describeFailure(result)}`, input);
  }
}

/** The agent's sets of one family (by name prefix) and their members, from `ipset save`. */
export function parseIpsetSave(text: string, prefix: string): Held {
  const held: Held = new Map();
  for (const line of text.split('\n')) {
    const [verb, name, member] = line.trim().split(/\s+/);
    if (!name || !name.startsWith(prefix) || !isOwnedSet(name)) continue;
    if (verb === 'create') held.set(name, held.get(name) ?? new Set());
    else if (verb === 'add' && member) (held.get(name) ?? held.set(name, new Set()).get(name)!).add(member);
  }
  return held;
}
