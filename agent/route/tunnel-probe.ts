// Whether this kernel can make the tunnel device a tunnel farm routes through: an `ipip external`
// device needs CONFIG_NET_IPIP, an `ip6tnl mode ip6ip6 external` one CONFIG_IPV6_TUNNEL, and a
// kernel without them answers "Unknown device type" only once the apply's `ip -batch` is half
// way through. Nothing read-only tells reliably: /sys/module/ipip is absent for a module not
// loaded yet (the kernel loads it on the first `ip link add`), and /proc/config.gz and
// /lib/modules are often not shipped. So the probe asks the kernel the real question, with a
// device of its own made and deleted in one `ip -batch`; nothing of it outlives the probe but
// the module the farm's own device would load anyway (and with it the fallback tunl0/ip6tnl0).

import type { IpFamily } from '../../config/net.js';
import type { FeatureSupport } from '../apply/kernel-features.js';
import { describeFailure, type RunResult, type Runner } from '../apply/runner.js';
import { TUNNEL_TYPE } from './plan.js';

/** Not the farm's device: a probe must never create or delete what an apply owns. */
export const PROBE_DEVICE: Readonly<Record<IpFamily, string>> = { ipv4: 'ha-ipip-probe', ipv6: 'ha-ip6tnl-probe' };

const FEATURE: Readonly<Record<IpFamily, { what: string; option: string; module: string }>> = {
  ipv4: { what: 'IPIP', option: 'CONFIG_NET_IPIP', module: 'ipip' },
  ipv6: { what: 'ip6ip6', option: 'CONFIG_IPV6_TUNNEL', module: 'ip6_tunnel' },
};

/** The probe's `ip -batch` answer -> support. Pure. */
export function tunnelSupport(family: IpFamily, result: RunResult): FeatureSupport {
  if (result.exitCode === 0 && !result.timedOut && !result.spawnError) return { state: 'supported' };
  const f = FEATURE[family];
  if (/Unknown device type/i.test(result.stderr)) {
    return { state: 'missing', reason: `this kernel has no ${f.what} tunnel support (${f.option}: "ip link add type ${TUNNEL_TYPE[family]}" says Unknown device type); use mode dsr or a kernel with ${f.module}` };
  }
  return { state: 'unknown', reason: `making a ${f.what} tunnel device failed: ${describeFailure(result)}` };
}

export interface TunnelProbeOptions {
  readonly command?: string;
  readonly timeoutMs?: number;
}

export class TunnelProbe {
  constructor(private readonly runner: Runner, private readonly options: TunnelProbeOptions = {}) {}

  async probe(family: IpFamily): Promise<FeatureSupport> {
    const ip = this.options.command ?? 'ip';
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const name = PROBE_DEVICE[family];
    const result = await this.runner.run(ip, ['-batch', '-'], { input: `link add ${name} type ${TUNNEL_TYPE[family]}\nlink del ${name}\n`, timeoutMs });
    // A probe device left by an agent killed between the two lines: the type was known then.
    if (/File exists/i.test(result.stderr)) {
      await this.runner.run(ip, ['link', 'del', name], { timeoutMs });
      return { state: 'supported' };
    }
    return tunnelSupport(family, result);
  }
}
