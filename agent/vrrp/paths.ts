// Where keepalived, conntrackd and the agent meet on disk: every file lives in node.run_dir, so
// two agents on one host (tests, the lab) never share a pid file, FIFO or socket.

import { join } from 'node:path';
import type { Config } from '../../config/schema.js';

export interface VrrpPaths {
  /** The keepalived.conf the agent renders (spawn mode; systemd mode writes vrrp.keepalived.config_path). */
  readonly keepalivedConf: string;
  readonly keepalivedPid: string;
  readonly vrrpPid: string;
  readonly checkersPid: string;
  /** keepalived writes `INSTANCE "NAME" STATE PRIORITY` lines here (vrrp_notify_fifo). */
  readonly notifyFifo: string;
  /** Its mtime is a deadline the agent keeps pushing forward; keepalived's track script compares it with now. */
  readonly heartbeat: string;
  readonly conntrackdConf: string;
  readonly conntrackdLock: string;
  readonly conntrackdSocket: string;
}

export const DEFAULT_KEEPALIVED_CONF = '/etc/keepalived/keepalived.conf';
export const DEFAULT_CONNTRACKD_CONF = '/etc/conntrackd/conntrackd.conf';

export function vrrpPaths(config: Pick<Config, 'node' | 'vrrp' | 'conntrackd'>): VrrpPaths {
  const dir = config.node.run_dir;
  const keepalivedMode = config.vrrp?.keepalived.mode ?? 'spawn';
  const conntrackdMode = config.conntrackd?.mode ?? 'spawn';
  return {
    keepalivedConf: keepalivedMode === 'spawn'
      ? join(dir, 'keepalived.conf')
      : config.vrrp?.keepalived.config_path ?? DEFAULT_KEEPALIVED_CONF,
    keepalivedPid: join(dir, 'keepalived.pid'),
    vrrpPid: join(dir, 'keepalived-vrrp.pid'),
    checkersPid: join(dir, 'keepalived-checkers.pid'),
    notifyFifo: join(dir, 'keepalived.fifo'),
    heartbeat: join(dir, 'vrrp-alive'),
    conntrackdConf: conntrackdMode === 'spawn'
      ? join(dir, 'conntrackd.conf')
      : config.conntrackd?.config_path ?? DEFAULT_CONNTRACKD_CONF,
    conntrackdLock: join(dir, 'conntrackd.lock'),
    conntrackdSocket: join(dir, 'conntrackd.ctl'),
  };
}
