// Farms that need a kernel feature this kernel lacks are refused before anything is applied:
// their rules or routes would load and carry nothing (SCTP without conntrack support), or fail
// half way through an apply with the kernel's terse words (a tunnel device type it does not know).
// The refusal is an ApplyError like a failed transaction, so the kernel keeps what it has, a
// reload is rejected, `agentctl status` shows the reason as the dataplane's last error, and
// removing the farm (or a kernel with the feature) clears it. Each feature is probed once, at the
// first apply that needs it; a probe that could not decide is asked again next time.

import type { DesiredState, PlannedFarm } from '../plan/plan.js';
import { ApplyError } from './netfilter.js';

export type FeatureSupport =
  | { readonly state: 'supported' }
  /** `reason` completes "refusing farm X (label): ". */
  | { readonly state: 'missing'; readonly reason: string }
  /** The probe could not tell: the farms are applied (with a warning), the probe asked again. */
  | { readonly state: 'unknown'; readonly reason: string };

export interface KernelFeature {
  /** How the refusal names what the farm asks for: "protocol sctp", "mode tunnel". */
  readonly label: string;
  readonly needs: (farm: PlannedFarm) => boolean;
  readonly probe: () => Promise<FeatureSupport>;
}

export class KernelFeatures {
  private readonly decided = new Map<KernelFeature, FeatureSupport>();
  private readonly warned = new Set<KernelFeature>();

  constructor(private readonly features: readonly KernelFeature[], private readonly warn?: (message: string) => void) {}

  /** Throws an ApplyError naming the farms and the missing feature. */
  async admit(desired: DesiredState): Promise<void> {
    for (const feature of this.features) {
      const farms = desired.farms.filter(feature.needs).map((f) => f.name);
      if (farms.length === 0) continue;
      const support = this.decided.get(feature) ?? await feature.probe();
      switch (support.state) {
        case 'supported':
          this.decided.set(feature, support);
          break;
        case 'missing':
          this.decided.set(feature, support);
          throw new ApplyError(`refusing ${farms.length === 1 ? 'farm' : 'farms'} ${farms.join(', ')} (${feature.label}): ${support.reason}`);
        case 'unknown':
          if (!this.warned.has(feature)) this.warn?.(`cannot tell whether this kernel supports ${feature.label} (${support.reason}); applying the farms ${farms.join(', ')} anyway`);
          this.warned.add(feature);
          break;
        default: {
          const never: never = support;
          throw new Error(`unknown kernel feature support ${JSON.stringify(never)}`);
        }
      }
    }
  }
}
