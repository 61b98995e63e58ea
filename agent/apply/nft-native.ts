// The kernel's nf_tables change notifications through native/nft_events.c: a netlink socket in this
// process that prints each change as `nft -a monitor` would, with no child process and no copy
// of the ruleset (nft monitor caches all of it, and crashes on the agent's interval maps).
// Absent (not built, not Linux), the monitor falls back to an `nft monitor` child.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';

interface NftEventsAddon {
  /** A token naming the listener (>= 1), or -errno. */
  open(onLines: (text: string) => void): number;
  /** 0, or -ENOENT for a token that names no open listener. */
  close(token: number): number;
}

/** dist/agent/apply/nft-native.js → dist/native/nft_events.node */
export const NFT_EVENTS_ADDON = fileURLToPath(new URL('../../native/nft_events.node', import.meta.url));

/** One subscribed listener; its lines arrive whole, one or more per call. */
export interface NftEventListener {
  close(): void;
}

/** Opens listeners on the addon, or says why there is none. */
export interface NftEventSource {
  open(onLines: (text: string) => void): NftEventListener;
}

let loaded: { source: NftEventSource } | { error: string } | undefined;

/** The native source, loaded once; `error` says why it is unavailable. */
export function nativeNftEvents(path: string = NFT_EVENTS_ADDON): { source: NftEventSource; error?: undefined } | { source?: undefined; error: string } {
  if (path === NFT_EVENTS_ADDON && loaded) return loaded;
  const result = load(path);
  if (path === NFT_EVENTS_ADDON) loaded = result;
  return result;
}

function load(path: string): { source: NftEventSource } | { error: string } {
  let addon: Partial<NftEventsAddon>;
  try {
    addon = createRequire(import.meta.url)(path) as Partial<NftEventsAddon>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === 'MODULE_NOT_FOUND' ? `${path} is not built (native/build.sh)` : `${path}: ${(err as Error).message}` };
  }
  const { open, close } = addon;
  if (typeof open !== 'function' || typeof close !== 'function') return { error: `${path} is not the nft_events module (native/build.sh)` };
  return {
    source: {
      open: (onLines) => {
        const token = open(onLines);
        if (token < 0) throw new Error(`cannot listen to nf_tables events: ${getSystemErrorName(token)}`);
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
