// Whether this kernel can track and NAT SCTP. Without CONFIG_NF_CT_PROTO_SCTP conntrack sees an
// SCTP association as generic packets and NAT rewrites no SCTP port, so an sctp farm's rules load
// and then silently fail to carry an association. The probe reads what conntrack registers for
// SCTP (its per-state timeouts under /proc/sys/net/netfilter, present in every namespace once
// nf_conntrack is loaded, whether built in or a module) rather than modprobing or parsing a kernel
// config the host may not ship. NAT's SCTP port rewriting is compiled under the same option.

import { access } from 'node:fs/promises';
import { describeFailure, type Runner } from './runner.js';

export const NETFILTER_SYSCTL = '/proc/sys/net/netfilter';
/** Present exactly when nf_conntrack is loaded in this namespace. */
export const CONNTRACK_FILE = `${NETFILTER_SYSCTL}/nf_conntrack_max`;
/** Present exactly when, in addition, conntrack has its SCTP support. */
export const SCTP_FILE = `${NETFILTER_SYSCTL}/nf_conntrack_sctp_timeout_established`;

export type SctpSupport =
  | { readonly state: 'supported' }
  | { readonly state: 'missing'; readonly reason: string }
  /** conntrack is not loaded and could not be made to load: nothing to tell either way. */
  | { readonly state: 'unknown'; readonly reason: string };

/** What the two files say. Pure. */
export function sctpSupport(conntrackLoaded: boolean, sctpTimeouts: boolean): SctpSupport {
  if (sctpTimeouts) return { state: 'supported' };
  if (conntrackLoaded) {
    return { state: 'missing', reason: `nf_conntrack is loaded but has no SCTP support (${SCTP_FILE} is absent): the kernel was built without CONFIG_NF_CT_PROTO_SCTP` };
  }
  return { state: 'unknown', reason: `nf_conntrack is not loaded (${CONNTRACK_FILE} is absent)` };
}

export interface SctpProbeOptions {
  /** Whether a file exists (default: fs access). */
  readonly exists?: (path: string) => Promise<boolean>;
  /** The conntrack binary, run once when nf_conntrack is not loaded yet. */
  readonly conntrackCommand?: string;
}

const fileExists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

export class SctpProbe {
  private readonly exists: (path: string) => Promise<boolean>;
  constructor(private readonly runner: Runner, private readonly options: SctpProbeOptions = {}) {
    this.exists = options.exists ?? fileExists;
  }

  /**
   * Before the agent's first rules nf_conntrack may not be loaded yet: `conntrack -C` asks
   * ctnetlink, which the kernel loads on demand, and nf_conntrack with it (no modprobe of ours).
   */
  async probe(): Promise<SctpSupport> {
    let loaded = await this.exists(CONNTRACK_FILE);
    let loadError: string | undefined;
    if (!loaded) {
      const result = await this.runner.run(this.options.conntrackCommand ?? 'conntrack', ['-C'], { timeoutMs: 5000 });
      if (result.exitCode !== 0 || result.timedOut) loadError = describeFailure(result);
      loaded = await this.exists(CONNTRACK_FILE);
    }
    const support = sctpSupport(loaded, await this.exists(SCTP_FILE));
    return support.state === 'unknown' && loadError ? { state: 'unknown', reason: `${support.reason}; ${loadError}` } : support;
  }
}
