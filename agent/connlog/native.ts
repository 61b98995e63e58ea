// The NFLOG group reader of native/nflog.c: a netlink socket in this process bound to the group
// the farms with `log: true` send new connections to. Absent (not built, not Linux), the
// connection log is off and the daemon says why.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';

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
  let addon: Partial<NflogAddon>;
  try {
    addon = createRequire(import.meta.url)(path) as Partial<NflogAddon>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === 'MODULE_NOT_FOUND' ? `${path} is not built (native/build.sh)` : `${path}: ${(err as Error).message}` };
  }
  const { open, close } = addon;
  if (typeof open !== 'function' || typeof close !== 'function') return { error: `${path} is not the nflog module (native/build.sh)` };
  return {
    source: {
      open: (group, onLines) => {
        const token = open(group, onLines);
        if (token < 0) throw new Error(`cannot bind NFLOG group ${group}: ${getSystemErrorName(token)}`);
        let closed = false;
        return {
          close: () => {
            if (closed) return;
            closed = true;
            close(token);
          },
        };
      },
    },
  };
}
