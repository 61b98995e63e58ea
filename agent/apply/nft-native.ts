// The kernel's nf_tables change notifications through native/nft_events.c: a netlink socket in this
// process that prints each change as `nft -a monitor` would, with no child process and no copy
// of the ruleset (nft monitor caches all of it, and crashes on the agent's interval maps).
// Absent (not built, not Linux), the monitor falls back to an `nft monitor` child.

import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { closeOnce, loadAddon } from '../io/addon.js';

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
  const loaded = loadAddon<NftEventsAddon>(path, 'nft_events', ['open', 'close']);
  if (!loaded.addon) return { error: loaded.error };
  const { open, close } = loaded.addon;
  return {
    source: {
      open: (onLines) => {
        const token = open(onLines);
        if (token < 0) throw new Error(`cannot listen to nf_tables events: ${getSystemErrorName(token)}`);
        return closeOnce(close, token);
      },
    },
  };
}
