// Whether BIRD has withdrawn every VIP from every peer, as BIRD itself reports it (`show route
// export <peer>`): the agent's include files only say what it asked for. `ha-agent stop
// --withdraw` waits for this before it stops the agent, so the operator knows the routers were
// told before the LB goes away.

import type { Runner } from '../apply/runner.js';
import { peerProtocol } from '../render/bird.js';
import type { BgpPeerConfig } from '../../config/bgp.js';

/** What BIRD exports to one peer, from `birdc show route export <protocol>`; undefined when the
 * answer says nothing either way (BIRD unreachable, an unknown protocol). Pure. */
export function exportedPrefixes(exitCode: number | undefined, stdout: string): string[] | undefined {
  // A session that is not up has no channel to export through: nothing is announced to the peer.
  if (/^No valid tables$/m.test(stdout)) return [];
  if (exitCode !== 0) return undefined;
  // A route's first line starts with its prefix; further paths and attributes are indented.
  return stdout.split('\n').flatMap((line) => /^([0-9A-Fa-f.:]+\/\d+)\s/.exec(line)?.[1] ?? []);
}

export interface WithdrawnCheck {
  /** Every peer exports nothing. */
  readonly withdrawn: boolean;
  /** What is still exported, as `prefix to peer`, or why BIRD could not tell. */
  readonly remaining: readonly string[];
}

/** Asks BIRD once for every peer. */
export async function checkWithdrawn(runner: Runner, birdc: string, socket: string, peers: readonly Pick<BgpPeerConfig, 'address'>[]): Promise<WithdrawnCheck> {
  const remaining: string[] = [];
  for (const peer of peers) {
    const r = await runner.run(birdc, ['-s', socket, 'show', 'route', 'export', peerProtocol(peer)], { timeoutMs: 2000 });
    const exported = r.timedOut ? undefined : exportedPrefixes(r.exitCode, r.stdout);
    if (exported === undefined) remaining.push(`BIRD (${socket}) did not say what it exports to ${peer.address}: ${r.spawnError ?? (r.timedOut ? 'no answer' : (r.stderr || r.stdout).trim().split('\n').at(-1))}`);
    else remaining.push(...exported.map((prefix) => `${prefix} to ${peer.address}`));
  }
  return { withdrawn: remaining.length === 0, remaining };
}

export interface WaitWithdrawnOptions {
  readonly runner: Runner;
  readonly birdc: string;
  readonly socket: string;
  readonly peers: readonly Pick<BgpPeerConfig, 'address'>[];
  readonly timeoutMs: number;
  readonly everyMs?: number;
  /** Milliseconds, monotonic; performance.now unless a test passes its own. */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Asks until BIRD exports nothing or `timeoutMs` has passed; the last answer either way. */
export async function waitWithdrawn(opts: WaitWithdrawnOptions): Promise<WithdrawnCheck & { readonly ms: number }> {
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const started = now();
  for (;;) {
    const check = await checkWithdrawn(opts.runner, opts.birdc, opts.socket, opts.peers);
    const ms = now() - started;
    if (check.withdrawn || ms >= opts.timeoutMs) return { ...check, ms };
    await sleep(Math.min(opts.everyMs ?? 50, opts.timeoutMs - ms));
  }
}
