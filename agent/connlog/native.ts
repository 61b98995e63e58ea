// The NFLOG group reader of native/nflog.c: a netlink socket in this process bound to the group
// the farms with `log: true` send new connections to. Absent (not built, not Linux), the
// connection log is off and the daemon says why.

import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { closeOnce, loadAddon } from '../io/addon.js';

interface NflogAddon {
  /** A token naming the listener (>= 1), or -errno. */
  open(group: number, onLines: (text: string) => void): number;
  close(token: number): number;
}

/** dist/agent/connlog/native.js → dist/native/nflog.node */
export const NFLOG_ADDON = fileURLToPath(new URL('../../native/nflog.node', import.meta.url));

export interface NflogListener {
  close(): void;
}

export interface NflogSource {
  /** Throws with the reason when the group cannot be bound (EBUSY: ulogd or another reader has it). */
  open(group: number, onLines: (text: string) => void): NflogListener;
}

export function nativeNflog(path: string = NFLOG_ADDON): { source: NflogSource; error?: undefined } | { source?: undefined; error: string } {
  const loaded = loadAddon<NflogAddon>(path, 'nflog', ['open', 'close']);
  if (!loaded.addon) return { error: loaded.error };
  const { open, close } = loaded.addon;
  return {
    source: {
      open: (group, onLines) => {
        const token = open(group, onLines);
        if (token < 0) throw new Error(`cannot bind NFLOG group ${group}: ${getSystemErrorName(token)}`);
        return closeOnce(close, token);
      },
    },
  };
}
