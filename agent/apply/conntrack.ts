// Cutting the tracked connections of a backend that left (down or maintenance), so its clients
// fail fast instead of waiting on a dead peer (SPEC §5 cut_on_down).

import { describeFailure, type Runner } from './runner.js';

export interface ConnTracker {
  /** Deletes the conntrack entries whose mark is `mark` under `mask`; returns how many went. */
  cut(mark: number, mask: number): Promise<number>;
}

export class ConntrackCli implements ConnTracker {
  constructor(private readonly runner: Runner, private readonly command = 'conntrack') {}

  async cut(mark: number, mask: number): Promise<number> {
    const result = await this.runner.run(this.command, ['-D', '--mark', `0x${mark.toString(16)}/0x${mask.toString(16)}`], { timeoutMs: 10_000 });
    // conntrack exits 1 when nothing matched; both print "N flow entries have been deleted".
    const deleted = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(result.stderr + result.stdout);
    if (deleted) return Number(deleted[1]);
    throw new Error(`conntrack cut of mark 0x${mark.toString(16)}: ${describeFailure(result)}`);
  }
}

/** Records cuts instead of making them, for unit tests. */
export class FakeConnTracker implements ConnTracker {
  readonly cuts: { mark: number; mask: number }[] = [];
  async cut(mark: number, mask: number): Promise<number> {
    this.cuts.push({ mark, mask });
    return 0;
  }
}
