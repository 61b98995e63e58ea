// Placeholder until the control socket lands (being written now): the daemon starts without it.

import type { Daemon } from '../daemon/main.js';

export async function startControl(_daemon: Daemon): Promise<{ stop(): Promise<void> }> {
  return { stop: async () => undefined };
}
