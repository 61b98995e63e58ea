// Where BIRD and the agent meet on disk: in spawn mode every file lives in node.run_dir, so two
// agents on one host (tests, the lab) never share a socket, pid file or config.

import { join } from 'node:path';
import type { Config } from '../../config/schema.js';
import type { IpFamily } from '../../config/net.js';

export interface BgpPaths {
  /** The bird.conf the agent renders (spawn mode). */
  readonly birdConf: string;
  /** BIRD's control socket: the agent's own BIRD in spawn mode, the operator's in external mode. */
  readonly socket: string;
  readonly pid: string;
  /** The announced routes, one file per family (external mode: include_path and include_path6). */
  readonly include: Readonly<Record<IpFamily, string>>;
}

export const DEFAULT_EXTERNAL_SOCKET = '/run/bird/bird.ctl';

export function bgpPaths(config: Pick<Config, 'node' | 'bgp'>): BgpPaths {
  const dir = config.node.run_dir;
  const speaker = config.bgp?.speaker;
  const external = speaker?.mode === 'external';
  const v4 = external && speaker.include_path ? speaker.include_path : join(dir, 'bird-vips4.conf');
  // One path is configured; the IPv6 routes go next to it (an operator includes both).
  const v6 = external && speaker.include_path ? `${speaker.include_path.replace(/\.conf$/, '')}6.conf` : join(dir, 'bird-vips6.conf');
  return {
    birdConf: join(dir, 'bird.conf'),
    socket: external ? speaker.socket ?? DEFAULT_EXTERNAL_SOCKET : join(dir, 'bird.ctl'),
    pid: join(dir, 'bird.pid'),
    include: { ipv4: v4, ipv6: v6 },
  };
}
