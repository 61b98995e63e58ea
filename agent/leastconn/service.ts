// The load loop as a daemon service: counts read from conntrack on this host, loads handed to
// the engine's plan through the book, stopped with the daemon.

import type { Clock } from '../../checks/clock.js';
import type { ConnCounter } from '../apply/conntrack.js';
import type { Logger } from '../log.js';
import { LoadLoop, type LoadBook, type LoadTarget } from './loop.js';

export function startLoads(deps: { target: LoadTarget; book: LoadBook; counter: ConnCounter; clock: Clock; logger: Logger }): { stop(): Promise<void> } {
  const loop = new LoadLoop(deps);
  loop.start();
  return { stop: async () => loop.stop() };
}
