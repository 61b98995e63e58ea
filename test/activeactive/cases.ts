// The LB-silent and LB-return acceptance case, registered by the dsr and tunnel suites for each
// driver: the router drops a silent LB within BFD's detection time + 200 ms, every long-lived
// stream carries on (no state on the LBs), new connections fail only meanwhile, and the LB's
// return moves no stream either.

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { BFD_INTERVAL_MS, BFD_MULTIPLIER, type ActiveActive } from './topology.js';
import { burst, fate, openStreams } from './traffic.js';
import { lbReturn, lbSilent } from './silent.js';

const STREAMS = 60;
const DETECT_LIMIT_MS = BFD_INTERVAL_MS * BFD_MULTIPLIER + 200;
const say = (text: string) => process.stdout.write(`# ${text}\n`);

/** The LB-silent and LB-return cases, for any direct-return farm. */
export function silentCases(get: () => ActiveActive, farm: { name: string; vip: string }, label: string): void {
  it(`${label}: an LB made silent is dropped within BFD + 200 ms, 100 % of ${STREAMS} streams carry on, new connections fail only meanwhile; it comes back and they still do`, async () => {
    const aa = get();
    const stream = await openStreams(aa, farm.vip, STREAMS);
    try {
      const r = await lbSilent(aa, farm.vip, stream);
      const failed = r.paced?.failures ?? 0;
      say(`${label} LB silent (${r.dead}): router dropped it after ${Math.round(r.detectMs)} ms; streams ${r.streams.alive.length}/${r.streams.total} alive `
        + `(${JSON.stringify(r.streams.errors)}); new connections ${failed}/${r.paced?.records.length} failed, ${r.failedOutside} outside the window, gap ${r.gapMs} ms`);
      assert.ok(r.detectMs <= DETECT_LIMIT_MS, `the router dropped ${r.dead} after ${Math.round(r.detectMs)} ms (limit ${DETECT_LIMIT_MS})`);
      assert.equal(r.streams.alive.length, STREAMS, `broken: ${JSON.stringify(r.streams.broken)}`);
      assert.equal(r.failedOutside, 0, 'new connections failed outside the detection window');

      const backMs = await lbReturn(aa, r.dead);
      const since = Date.now();
      const after = await fate(stream, since, 2000);
      say(`${label} LB back (${r.dead}): announced again after ${Math.round(backMs)} ms; streams ${after.alive.length}/${after.total} alive`);
      assert.equal(after.alive.length, STREAMS, `broken after the return: ${JSON.stringify(after.broken)}`);
      const report = await burst(aa, farm.vip, 150);
      assert.equal(report.failures, 0, JSON.stringify(report.errors));
    } finally {
      await stream.stop(2000);
    }
  });
}

