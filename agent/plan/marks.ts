// Stable fwmarks per farm/backend: the same on every node with the same farms, across restarts
// and config reordering, and never colliding (SPEC §5).

import type { Config } from '../../config/schema.js';

export interface MarkRange {
  readonly min: number;
  readonly max: number;
}

export const markKey = (farm: string, backend: string): string => `${farm}/${backend}`;

/** The farm and backend of a `farm/backend` key, or undefined when it is not one. */
export function splitMarkKey(key: string): [farm: string, backend: string] | undefined {
  const parts = key.split('/');
  return parts.length === 2 && parts[0] && parts[1] ? [parts[0], parts[1]] : undefined;
}

/** A mark, mask or other 32-bit value as iptables, nft and conntrack print it: `>>> 0` so a
 * complemented mask (~mask, negative in JS) prints as its unsigned 32 bits. */
export const formatMark = (mark: number): string => `0x${(mark >>> 0).toString(16)}`;

/** FNV-1a, 32 bit: tiny, deterministic on every node, and spreads similar names well. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * Assigns marks in three passes: pinned marks from config first, then marks this node used
 * before (from the state dir) while they stay valid, then a hash of "farm/backend" into the
 * range with linear probing, taking keys in sorted order so every node probes identically.
 */
export function assignMarks(
  config: Pick<Config, 'farms'>,
  range: MarkRange,
  previous: ReadonlyMap<string, number> = new Map(),
): Map<string, number> {
  const size = range.max - range.min + 1;
  const result = new Map<string, number>();
  const taken = new Set<number>();
  const pending: string[] = [];

  for (const farm of config.farms) {
    for (const backend of farm.backends) {
      const key = markKey(farm.name, backend.name);
      if (backend.mark !== undefined) {
        result.set(key, backend.mark);
        taken.add(backend.mark);
      } else {
        pending.push(key);
      }
    }
  }
  const fresh: string[] = [];
  for (const key of pending.sort()) {
    const old = previous.get(key);
    if (old !== undefined && old >= range.min && old <= range.max && !taken.has(old)) {
      result.set(key, old);
      taken.add(old);
    } else {
      fresh.push(key);
    }
  }
  for (const key of fresh) {
    let slot = fnv1a(key) % size;
    for (let probes = 0; taken.has(range.min + slot); probes++) {
      if (probes >= size) throw new Error(`no free mark in ${formatMark(range.min)}-${formatMark(range.max)} for ${key}`);
      slot = (slot + 1) % size;
    }
    result.set(key, range.min + slot);
    taken.add(range.min + slot);
  }
  return result;
}
