// Refuses to apply sctp farms on a kernel that cannot track or NAT SCTP: their rules would load
// and carry nothing. One kernel feature (kernel-features.ts) around any Netfilter: refused
// before anything reaches the kernel, with the reason as the dataplane's last error.

import type { DesiredState } from '../plan/plan.js';
import { KernelFeatures } from './kernel-features.js';
import type { ChangedObject, DriftReport, Netfilter, SyncResult } from './netfilter.js';
import type { SctpSupport } from './sctp-probe.js';

export interface SctpGuardOptions {
  readonly probe: () => Promise<SctpSupport>;
  /** Told once when the probe could not decide (the farms are then applied). */
  readonly warn?: (message: string) => void;
}

export class SctpGuard implements Netfilter {
  readonly driver: Netfilter['driver'];
  private readonly features: KernelFeatures;

  constructor(private readonly inner: Netfilter, options: SctpGuardOptions) {
    this.driver = inner.driver;
    this.features = new KernelFeatures([{
      label: 'protocol sctp',
      needs: (farm) => farm.protocol === 'sctp',
      probe: async () => {
        const support = await options.probe();
        return support.state === 'missing' ? { state: 'missing', reason: `this kernel cannot track or NAT SCTP: ${support.reason}` } : support;
      },
    }], options.warn);
  }

  adopt(): Promise<void> {
    return this.inner.adopt();
  }

  async sync(desired: DesiredState, changed?: ReadonlySet<string>): Promise<SyncResult> {
    await this.features.admit(desired);
    return this.inner.sync(desired, changed);
  }

  verify(): Promise<DriftReport> {
    return this.inner.verify();
  }

  async repair(desired: DesiredState, changed?: readonly ChangedObject[]): Promise<SyncResult> {
    await this.features.admit(desired);
    return this.inner.repair(desired, changed);
  }

  appliedText(): string {
    return this.inner.appliedText();
  }

  removeAll(): Promise<void> {
    return this.inner.removeAll();
  }
}
