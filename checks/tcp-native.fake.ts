// A tcp check addon for unit tests (the process boundary of checks/tcp-native.ts): it records
// what it is asked and reports only what the test tells it to, with tokens made as the engine
// makes them.

import type { TcpCheckAddon } from './tcp-native.js';

/**
 * Records what the engine asks of the addon; results are pushed by `finish`. Tokens as the real
 * engine makes them: generation * SLOTS + slot, the generation moving on when a check ends.
 */
export function fakeAddon() {
  const SLOTS = 8;
  let deliver: ((count: number) => void) | undefined;
  let results: Float64Array | undefined;
  const gens = new Array<number>(SLOTS).fill(1);
  const open = new Set<number>(); // tokens in flight
  const aborted: number[] = [];
  const end = (token: number): void => {
    open.delete(token);
    gens[token % SLOTS]!++;
  };
  const addon: TcpCheckAddon = {
    BATCH: 4,
    SLOTS,
    init(onResults, buffer) {
      deliver = onResults;
      results = buffer;
      return 0;
    },
    start(ip) {
      if (ip === 'bad') return -22;
      const slot = gens.findIndex((gen, i) => !open.has(gen * SLOTS + i));
      if (slot < 0) return -105; // ENOBUFS, as the engine at its limit
      const token = gens[slot]! * SLOTS + slot;
      open.add(token);
      return token;
    },
    abort(token) {
      aborted.push(token);
      if (!open.has(token)) return -2;
      end(token);
      return 0;
    },
    inflight: () => open.size,
  };
  /** The engine reports these checks ended, in one batch, with these statuses. */
  const finish = (done: Array<[token: number, status: number]>): void => {
    done.forEach(([token, status], i) => {
      results![2 * i] = token;
      results![2 * i + 1] = status;
      end(token);
    });
    deliver!(done.length);
  };
  return { addon, finish, aborted, open };
}
