// A scrape at thousands of backends through the real listener: the text is streamed in parts (never
// one string of megabytes), the event loop keeps turning while it is written (checks are not held
// up), it completes in a bounded time, and repeated scrapes between rounds of checks keep the heap
// flat (nothing accumulates per scrape or per check result).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startMetrics } from '../../agent/metrics/server.js';
import { EventHistory } from '../../agent/engine/history.js';
import { silentLogger } from '../../agent/log.js';
import type { Status } from '../../agent/control/status.js';
import { sampleStatus } from '../control/fakes.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The sample status with `farms` x 100 backends. */
function bigStatus(farms: number): Status {
  const base = sampleStatus();
  const web = base.farms.find((f) => f.name === 'web')!;
  return {
    ...base,
    farms: Array.from({ length: farms }, (_, f) => ({
      ...web, name: `f${f}`, backends: Array.from({ length: 100 }, (_, i) => ({ ...web.backends[0]!, name: `b${f * 100 + i}` })),
    })),
  };
}

/** Reads /metrics without keeping it: bytes, lines, parts received and the transfer encoding. */
function scrape(port: number): Promise<{ bytes: number; lines: number; parts: number; chunked: boolean }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let bytes = 0; let lines = 0; let parts = 0;
      res.on('data', (b: Buffer) => {
        bytes += b.length; parts += 1;
        for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) lines += 1;
      });
      res.on('end', () => resolve({ bytes, lines, parts, chunked: res.headers['transfer-encoding'] === 'chunked' }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

async function withServer(status: Status, run: (port: number, history: EventHistory) => Promise<void>): Promise<void> {
  const history = new EventHistory();
  const server = await startMetrics({ status: { status: () => status }, events: { on: (l) => history.on(l), recentEvents: (n) => history.recent(n) }, logger: silentLogger }, '127.0.0.1:0');
  try {
    await run(server.port, history);
  } finally {
    await server.stop();
  }
}

/** One check result per backend, as a round of checks reports them. */
function checkRound(status: Status, history: EventHistory, round: number): void {
  for (const farm of status.farms) {
    for (const b of farm.backends) {
      history.emit({ type: 'check', farm: farm.name, backend: b.name, result: { ok: round % 7 !== 0, message: `round ${round}`, latencyMs: 0.2 + (round % 5), at: round } });
    }
  }
}

describe('metrics at scale', () => {
  it('streams a 10k-backend scrape without blocking the event loop', async () => {
    const status = bigStatus(100);
    await withServer(status, async (port, history) => {
      checkRound(status, history, 1);
      let last = performance.now();
      let longest = 0;
      const tick = setInterval(() => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
      }, 5);
      const started = performance.now();
      const got = await scrape(port);
      const took = performance.now() - started;
      clearInterval(tick);
      // Per backend: health x3, up, admin x3, share, in_chain, weight, failures and a 16-line histogram.
      assert.ok(got.lines > 10_000 * 27, `${got.lines} lines`);
      assert.ok(got.chunked, 'sent with a content-length: built as one string');
      assert.ok(got.parts > 10, `${got.parts} parts`);
      // Generous bounds for a shared 2-core machine; one string built at once blocked for over a second.
      assert.ok(took < 5000, `scrape took ${Math.round(took)} ms`);
      assert.ok(longest < 400, `the event loop stood still for ${Math.round(longest)} ms during the scrape`);
    });
  });

  it('keeps the heap flat over repeated scrapes between rounds of checks at 2k backends', async () => {
    const status = bigStatus(20);
    await withServer(status, async (port, history) => {
      for (let round = 0; round < 3; round++) {
        checkRound(status, history, round);
        await scrape(port);
      }
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let round = 3; round < 33; round++) {
        checkRound(status, history, round);
        await scrape(port);
      }
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      assert.ok(grown < 2 * 1024 * 1024, `heap grew by ${Math.round(grown / 1024)} KiB over 30 scrapes and 60k check results`);
    });
  });
});
