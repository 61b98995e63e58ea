// Cutting the tracked connections of a backend that left (down or maintenance), so its clients
// fail fast instead of waiting on a dead peer (SPEC §5 cut_on_down).

import { formatMark } from '../plan/marks.js';
import { describeFailure, type Runner } from './runner.js';

export interface ConnTracker {
  /** Deletes the conntrack entries whose mark is `mark` under `mask`; returns how many went. */
  cut(mark: number, mask: number): Promise<number>;
}

export class ConntrackCli implements ConnTracker {
  constructor(private readonly runner: Runner, private readonly command = 'conntrack') {}

  async cut(mark: number, mask: number): Promise<number> {
    const result = await this.runner.run(this.command, ['-D', '--mark', `${formatMark(mark)}/${formatMark(mask)}`], { timeoutMs: 10_000 });
    // conntrack exits 1 when nothing matched; both print "N flow entries have been deleted".
    const deleted = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(result.stderr + result.stdout);
    if (deleted) return Number(deleted[1]);
    throw new Error(`conntrack cut of mark ${formatMark(mark)}: ${describeFailure(result)}`);
  }
}
