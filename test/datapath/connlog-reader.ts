// Runs the agent's connection log (agent/connlog) inside a lab namespace, where the NFLOG group
// lives: argv group and the marks as JSON ({"farm/backend": mark}); prints each record as a JSON
// line, and "ready" once bound.

import { systemClock } from '../../checks/clock.js';
import { nativeNflog } from '../../agent/connlog/native.js';
import { ConnLog } from '../../agent/connlog/service.js';

const [group, marksJson, rate] = process.argv.slice(2);
const native = nativeNflog();
if (!native.source) {
  console.error(native.error);
  process.exit(1);
}
const marks = new Map(Object.entries(JSON.parse(marksJson ?? '{}') as Record<string, number>));
const log = new ConnLog({
  source: native.source, group: Number(group), marks: () => marks, mask: () => 0x3fff, clock: systemClock,
  sink: (record) => console.log(JSON.stringify(record)),
  dropped: (count) => console.log(JSON.stringify({ dropped: count })),
  ...(rate ? { ratePerSecond: Number(rate) } : {}),
});
log.start();
console.log('ready');
// Keeps running until killed; the reader's poll does not hold the loop open by itself.
setInterval(() => undefined, 1 << 30);
process.on('SIGTERM', () => {
  log.stop();
  process.exit(0);
});
