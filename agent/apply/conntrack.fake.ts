// A ConnTracker that records cuts instead of making them, for tests and benchmarks.

import type { ConnTracker } from './conntrack.js';

export class FakeConnTracker implements ConnTracker {
  readonly cuts: { mark: number; mask: number }[] = [];
  async cut(mark: number, mask: number): Promise<number> {
    this.cuts.push({ mark, mask });
    return 0;
  }
}
