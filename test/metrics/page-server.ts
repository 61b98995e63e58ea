// A test program: the agent's real metrics listener over a status and an event list read from
// files at each request, so a browser test can show any status (clustered, split brain, hostile
// check messages) without a cluster, and change it between two refreshes by rewriting the file.
// Usage: node page-server.js LISTEN STATUS.json EVENTS.json; prints "listening PORT".

import { readFileSync } from 'node:fs';
import { startMetrics } from '../../agent/metrics/server.js';
import type { Status } from '../../agent/control/status.js';
import type { HistoryEvent } from '../../agent/engine/history.js';
import { silentLogger } from '../../agent/log.js';

const [listen, statusFile, eventsFile] = process.argv.slice(2);
if (!listen || !statusFile || !eventsFile) {
  console.error('usage: page-server LISTEN STATUS.json EVENTS.json');
  process.exit(2);
}
const read = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const server = await startMetrics({
  status: { status: () => read<Status>(statusFile) },
  events: { on: () => () => undefined, recentEvents: (n = 1000) => read<HistoryEvent[]>(eventsFile).slice(-n) },
  logger: silentLogger,
}, listen);
console.log(`listening ${server.port}`);
process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)));
