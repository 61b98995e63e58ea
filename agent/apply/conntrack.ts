// Cutting the tracked connections of a backend that left (down or maintenance), so its clients
// fail fast instead of waiting on a dead peer (SPEC §5 cut_on_down).

import type { IpFamily } from '../../config/net.js';
import { formatMark } from '../plan/marks.js';
import { describeFailure, type Runner } from './runner.js';

export interface ConnTracker {
  /**
   * Deletes the conntrack entries whose mark is `mark` under `mask`; returns how many went. Marks
   * are one space across families: without `family`, entries of both are cut.
   */
  cut(mark: number, mask: number, family?: IpFamily): Promise<number>;
}

/** `conntrack` works on IPv4 entries unless told `-f ipv6`. */
const FAMILY_ARGS: Record<IpFamily, readonly string[]> = { ipv4: [], ipv6: ['-f', 'ipv6'] };

export class ConntrackCli implements ConnTracker {
  constructor(private readonly runner: Runner, private readonly command = 'conntrack') {}

  async cut(mark: number, mask: number, family?: IpFamily): Promise<number> {
    if (family) return this.cutFamily(mark, mask, family);
    // One after the other: conntrack 1.4.7 without -f deletes every family's entries already, and
    // two deletes walking the same entries at once see each other's deletions as errors.
    return (await this.cutFamily(mark, mask, 'ipv4')) + (await this.cutFamily(mark, mask, 'ipv6'));
  }

  private async cutFamily(mark: number, mask: number, family: IpFamily): Promise<number> {
    const args = [...FAMILY_ARGS[family], '-D', '--mark', `${formatMark(mark)}/${formatMark(mask)}`];
    const result = await this.runner.run(this.command, args, { timeoutMs: 10_000 });
    // conntrack exits 1 when nothing matched; both print "N flow entries have been deleted".
    const deleted = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(result.stderr + result.stdout);
    if (deleted) return Number(deleted[1]);
    // An entry that expired between conntrack's dump and its delete.
    if (/such conntrack doesn't exist/.test(result.stderr)) return 0;
    throw new Error(`conntrack cut of mark ${formatMark(mark)}${family === 'ipv6' ? ' (IPv6)' : ''}: ${describeFailure(result)}`);
  }
}
