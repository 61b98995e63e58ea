// The drift check's schedule: node-cron text, validated with node-cron's own validator so that
// what check-config accepts is what the daemon can schedule.

import cron from 'node-cron';

// Every 5 minutes: kernel events find drift at once; the sweep only catches what they could
// not report (its cost at 10k backends is measured in bench/RESULTS.md).
export const DEFAULT_VERIFY_SCHEDULE = '0 */5 * * * *';

const FORM = `like "${DEFAULT_VERIFY_SCHEDULE}" (second minute hour day-of-month month day-of-week; or five fields, without the second)`;

/** What is wrong with a cron text, or undefined when node-cron can schedule it. */
export function cronScheduleError(text: string): string | undefined {
  // node-cron accepts a seventh field and ignores it: a year would be silently dropped.
  const fields = text.trim().split(/\s+/).filter(Boolean).length;
  if ((fields === 5 || fields === 6) && cron.validate(text)) return undefined;
  return `${JSON.stringify(text)} is not a cron schedule ${FORM}`;
}
