// A Netfilter that also keeps the routing half of dsr and tunnel farms (agent/route): the MARK
// chain picks a backend's mark, the kernel routes by it. Around each netfilter transaction:
// routes and rules are added first (a packet the new rules mark finds its table) and removed
// after (once no rule marks a packet for them), so a change never routes a marked packet by the
// main table. The engine and agentctl see one Netfilter, as before. A tunnel farm on a kernel
// without the family's tunnel device type is refused before anything is applied
// (kernel-features.ts, route/tunnel-probe.ts).

import type { IpFamily } from '../../config/net.js';
import type { DesiredState } from '../plan/plan.js';
import { createLines } from '../route/batch.js';
import { FAMILIES, isEmptyFamily, planRoutes, type RouteState } from '../route/plan.js';
import { RouteTables } from '../route/tables.js';
import { TunnelProbe } from '../route/tunnel-probe.js';
import { KernelFeatures, type FeatureSupport } from './kernel-features.js';
import type { ChangedObject, Driver, DriftReport, Netfilter, SyncResult } from './netfilter.js';
import type { Runner } from './runner.js';

export interface RoutedNetfilterOptions {
  readonly routes?: RouteTables;
  /** Whether the kernel can make the family's tunnel device (default: TunnelProbe). */
  readonly probeTunnel?: (family: IpFamily) => Promise<FeatureSupport>;
  /** Told once when a probe could not decide (the farms are then applied). */
  readonly warn?: (message: string) => void;
}

export class RoutedNetfilter implements Netfilter {
  readonly driver: Driver;
  private readonly routes: RouteTables;
  private readonly features: KernelFeatures;

  constructor(private readonly inner: Netfilter, runner: Runner, options: RoutedNetfilterOptions = {}) {
    this.driver = inner.driver;
    this.routes = options.routes ?? new RouteTables(runner);
    const probe = options.probeTunnel ?? ((family: IpFamily) => new TunnelProbe(runner).probe(family));
    this.features = new KernelFeatures(FAMILIES.map((family) => ({
      label: 'mode tunnel',
      needs: (farm) => farm.mode === 'tunnel' && farm.family === family,
      // The device already there (made by this agent, or adopted) answers without a probe.
      probe: async () => (this.routes.appliedState()[family].tunnel ? { state: 'supported' } : probe(family)),
    })), options.warn);
  }

  async adopt(): Promise<void> {
    await this.inner.adopt();
    await this.routes.adopt();
  }

  async sync(desired: DesiredState, changed?: ReadonlySet<string>): Promise<SyncResult> {
    await this.features.admit(desired);
    const want = planRoutes(desired);
    const grown = await this.routes.grow(want);
    const result = await this.inner.sync(desired, changed);
    const shrunk = await this.routes.shrink(want);
    return withRoutes(result, grown + shrunk);
  }

  async verify(): Promise<DriftReport> {
    const inner = await this.inner.verify();
    const routes = await this.routes.verify();
    return { inSync: inner.inSync && routes.length === 0, differences: [...inner.differences, ...routes] };
  }

  async repair(desired: DesiredState, changed?: readonly ChangedObject[]): Promise<SyncResult> {
    await this.features.admit(desired);
    const want = planRoutes(desired);
    // Routes only on a full repair: kernel events name nft objects, never routes.
    const lines = changed ? await this.routes.grow(want) : await this.routes.repair(want);
    const result = await this.inner.repair(desired, changed);
    return withRoutes(result, lines);
  }

  appliedText(): string {
    return `${this.inner.appliedText()}${formatRouteBlock(this.routes.appliedState())}`;
  }

  async removeAll(): Promise<void> {
    await this.inner.removeAll();
    await this.routes.removeAll();
  }
}

function withRoutes(result: SyncResult, lines: number): SyncResult {
  return lines === 0 ? result : { ...result, changed: true, rewritten: [...result.rewritten, `routes (${lines} ip -batch lines)`] };
}

/**
 * The routing state as comment lines, so the text before it stays iptables-restore or nft input
 * (`ha-agent render`, `agentctl rules`); empty without dsr/tunnel farms, so other output is as it was.
 */
export function formatRouteBlock(state: RouteState): string {
  const parts: string[] = [];
  for (const family of FAMILIES) {
    if (isEmptyFamily(state[family])) continue;
    parts.push(`# ${family === 'ipv6' ? 'ip -6 -batch -' : 'ip -batch -'} input for the dsr/tunnel farms (routing by mark):`);
    for (const line of createLines(state[family], family)) parts.push(`#   ${line}`);
  }
  return parts.length === 0 ? '' : `${parts.join('\n')}\n`;
}
