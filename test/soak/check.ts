// `node dist/test/soak/check.js HISTORY.jsonl`: re-checks a saved soak history and prints the
// report; exits 1 on any violation, 2 on a history that cannot be read.

import { checkHistory, formatReport } from './checker.js';
import { readHistory } from './read.js';

const path = process.argv[2];
if (path === undefined || process.argv.length > 3) {
  process.stderr.write('usage: check.js HISTORY.jsonl\n');
  process.exit(2);
}
try {
  const report = checkHistory(await readHistory(path));
  process.stdout.write(formatReport(report));
  process.exitCode = report.violations.length > 0 ? 1 : 0;
} catch (err) {
  process.stderr.write(`check: ${(err as Error).message}\n`);
  process.exitCode = 2;
}
