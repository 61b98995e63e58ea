// The drift watch never takes the daemon down: a schedule node-cron cannot read (check-config
// refuses one, but a config can reach the daemon by other paths) is logged, and drift is then
// checked on the default schedule instead of throwing half-way through start-up.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { FakeNetfilter } from '../../agent/apply/netfilter.fake.js';
import { watchDrift } from '../../agent/daemon/drift.js';
import { Engine } from '../../agent/engine/engine.js';
import { createLogger } from '../../agent/log.js';
import { parsedConfig } from '../support/config.js';

test('a schedule node-cron cannot read is logged and the default schedule used, not thrown', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  const logger = createLogger('info', sink);
  const netfilter = new FakeNetfilter();
  const engine = new Engine({ netfilter, conntrack: { cut: async () => 0 }, logger, now: Date.now, persist: async () => {} });
  await engine.start(parsedConfig('node: { id: lb1 }\n'), new Map(), new Map());
  let watch: ReturnType<typeof watchDrift> | undefined;
  try {
    assert.doesNotThrow(() => { watch = watchDrift('every tuesday', netfilter, engine, logger); });
    const errors = lines.filter((l) => l.level === 50).map((l) => l.msg);
    assert.deepEqual(errors, ['dataplane.verify_schedule "every tuesday" is not a cron schedule; checking drift on the default "0 */5 * * * *"']);
    assert.equal(watch?.repairs, 0);
  } finally {
    watch?.stop();
  }
});
