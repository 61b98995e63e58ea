// Applies the routing half of dsr and tunnel farms (plan.ts) with `ip -batch -` through the
// runner, keeping what it applied in memory (so an apply never lists the kernel), adopting what
// the kernel holds at start and removing what belongs to farms or backends no longer configured.

import type { IpFamily } from '../../config/net.js';
import { ApplyError } from '../apply/netfilter.js';
import { describeFailure, type Runner } from '../apply/runner.js';
import { compareRoutes, growLines, shrinkLines, union } from './batch.js';
import { parseRoutes, parseRules } from './observe.js';
import { FAMILIES, TUNNEL_DEVICE, emptyFamily, emptyRoutes, isEmptyFamily, type FamilyRoutes, type RouteState } from './plan.js';

export interface RouteTablesOptions {
  readonly command?: string;
  readonly timeoutMs?: number;
}

// -4 too: `ip route show table all` without a family lists IPv6 routes as well.
const familyFlag = (family: IpFamily): string[] => (family === 'ipv6' ? ['-6'] : ['-4']);

export class RouteTables {
  private applied: Record<IpFamily, FamilyRoutes> = { ...emptyRoutes() };
  /** A family that could not be read (IPv6 off): an error only once it is wanted. */
  private unreadable: Partial<Record<IpFamily, Error>> = {};
  /** After a failed batch: the next change reads the kernel first (a batch is not atomic). */
  private needsObserve = false;

  constructor(private readonly runner: Runner, private readonly options: RouteTablesOptions = {}) {}

  async adopt(): Promise<void> {
    for (const family of FAMILIES) {
      try {
        // Everything the kernel holds in the agent's range, rules or not: what a crash left.
        this.applied[family] = await this.observe(family, true);
        delete this.unreadable[family];
      } catch (err) {
        this.applied[family] = emptyFamily();
        this.unreadable[family] = err as Error;
      }
    }
    this.needsObserve = false;
  }

  /** Adds what `desired` has and the kernel lacks; removes nothing. */
  async grow(desired: RouteState): Promise<number> {
    if (this.needsObserve) await this.adopt();
    let lines = 0;
    for (const family of FAMILIES) {
      const batch = growLines(this.applied[family], desired[family], family);
      if (batch.length === 0) continue;
      this.wanted(family);
      await this.batch(family, batch);
      this.applied[family] = union(this.applied[family], desired[family]);
      lines += batch.length;
    }
    return lines;
  }

  /** Removes what `desired` no longer has (after grow and the netfilter transaction). */
  async shrink(desired: RouteState): Promise<number> {
    let lines = 0;
    for (const family of FAMILIES) {
      const batch = shrinkLines(this.applied[family], desired[family], family);
      if (batch.length > 0) {
        await this.batch(family, batch);
        lines += batch.length;
      }
      this.applied[family] = desired[family];
    }
    return lines;
  }

  async verify(): Promise<string[]> {
    const out: string[] = [];
    for (const family of FAMILIES) {
      if (isEmptyFamily(this.applied[family]) && this.unreadable[family]) continue;
      out.push(...compareRoutes(this.applied[family], await this.observe(family), family));
    }
    return out;
  }

  /** Reads the kernel back and brings it to `desired`. */
  async repair(desired: RouteState): Promise<number> {
    await this.adopt();
    return (await this.grow(desired)) + (await this.shrink(desired));
  }

  async removeAll(): Promise<void> {
    await this.adopt();
    await this.shrink(emptyRoutes());
  }

  appliedState(): RouteState {
    return { ...this.applied };
  }

  private wanted(family: IpFamily): void {
    const err = this.unreadable[family];
    if (err) throw new ApplyError(`cannot apply the ${family} routes of dsr/tunnel farms: ${err.message}`, undefined, { cause: err });
  }

  private async batch(family: IpFamily, lines: readonly string[]): Promise<void> {
    const result = await this.runner.run(this.options.command ?? 'ip', [...familyFlag(family), '-batch', '-'], { input: `${lines.join('\n')}\n`, timeoutMs: this.options.timeoutMs ?? 30_000 });
    if (result.exitCode !== 0 || result.timedOut || result.spawnError) {
      this.needsObserve = true;
      throw new ApplyError(`cannot apply the routes of dsr/tunnel farms: ${describeFailure(result)}`, lines.join('\n'));
    }
  }

  private async observe(family: IpFamily, everyTable = false): Promise<FamilyRoutes> {
    const ip = this.options.command ?? 'ip';
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    const rules = await this.runner.run(ip, [...familyFlag(family), '-j', 'rule', 'show'], { timeoutMs });
    if (rules.exitCode !== 0 || rules.timedOut || rules.spawnError) throw new ApplyError(`cannot read the ${family} rules: ${describeFailure(rules)}`);
    let owned: FamilyRoutes['rules'];
    try {
      owned = parseRules(rules.stdout);
    } catch (err) {
      throw new ApplyError(`cannot read the ${family} rules: ${(err as Error).message}`, undefined, { cause: err });
    }
    // Absent is an error exit ("does not exist"): the only way ip says so.
    const link = await this.runner.run(ip, ['-j', 'link', 'show', 'dev', TUNNEL_DEVICE[family]], { timeoutMs });
    const tunnel = link.exitCode === 0 && !link.spawnError;
    // Listing every table costs as much as the host's routing table (a full BGP feed is a million
    // routes): a verify skips it when no rule of the agent's and no route it applied could make one
    // of its tables carry traffic. Adopting (start-up, repair) always lists, so routes a crash
    // left in the agent's range are taken as applied and removed when no farm wants them.
    if (!everyTable && owned.size === 0 && this.applied[family].routes.size === 0) return { rules: owned, routes: new Map(), tunnel };
    const routes = await this.runner.run(ip, [...familyFlag(family), 'route', 'show', 'table', 'all'], { timeoutMs });
    if (routes.exitCode !== 0 || routes.timedOut || routes.spawnError) throw new ApplyError(`cannot read the ${family} routes: ${describeFailure(routes)}`);
    return { rules: owned, routes: parseRoutes(routes.stdout), tunnel };
  }
}
