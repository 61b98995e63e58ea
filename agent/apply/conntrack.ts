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

/** Reads how many live connections carry a mark (established for TCP): leastconn and max_conns. */
export interface ConnCounter {
  count(mark: number, mask: number, family: IpFamily): Promise<number>;
}

/**
 * A dump of the entries of one mark, filtered by the kernel (conntrack sends the mark and mask
 * with the dump request), counted here: TCP entries only while ESTABLISHED, others all. Its cost
 * grows with the table (the kernel walks it all) and with the mark's entries (each is printed);
 * the load loop spaces reads by it.
 */
export class ConntrackCli implements ConnTracker, ConnCounter {
  constructor(private readonly runner: Runner, private readonly command = 'conntrack') {}

  async cut(mark: number, mask: number, family?: IpFamily): Promise<number> {
    if (family) return this.cutFamily(mark, mask, family);
    // One after the other: conntrack 1.4.7 without -f deletes every family's entries already, and
    // two deletes walking the same entries at once see each other's deletions as errors.
    return (await this.cutFamily(mark, mask, 'ipv4')) + (await this.cutFamily(mark, mask, 'ipv6'));
  }

  async count(mark: number, mask: number, family: IpFamily): Promise<number> {
    const args = [...FAMILY_ARGS[family], '-L', '--mark', `${formatMark(mark)}/${formatMark(mask)}`];
    const result = await this.runner.run(this.command, args, { timeoutMs: 10_000 });
    if (result.exitCode !== 0 || result.timedOut) throw new Error(`conntrack count of mark ${formatMark(mark)}: ${describeFailure(result)}`);
    return countLive(result.stdout);
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

/** Entries of `conntrack -L` output that hold a live connection: TCP ones only while ESTABLISHED. */
export function countLive(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    if (line.startsWith('tcp ')) {
      if (/^tcp\s+\d+\s+\d+\s+ESTABLISHED /.test(line)) n++;
    } else {
      n++;
    }
  }
  return n;
}
