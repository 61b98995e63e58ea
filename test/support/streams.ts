// Long-lived TCP streams held by the stream-client fixture.

import { waitFor, type NsProcess } from '../netns/topology.js';
import type { StreamReport } from '../fixtures/bin/lib/types.js';

/** SIGUSR1 makes stream-client print a report line; returns the next one. */
export async function streamReport(stream: NsProcess): Promise<StreamReport> {
  const seen = stream.lines.length;
  stream.kill('SIGUSR1');
  const line = await waitFor(() => stream.lines.slice(seen).find((l) => l.startsWith('{')), { timeoutMs: 3000, what: 'a stream-client report' });
  return JSON.parse(line) as StreamReport;
}
