// The drift watch never takes the daemon down: a schedule node-cron cannot read (check-config
// refuses one, but a config can reach the daemon by other paths) is logged, and drift is then
// checked on the default schedule instead of throwing half-way through start-up. Kernel events:
// a change is logged and repaired at once (only what it named, where the driver can), lost events
// bring a full verify, and events during a check are coalesced into the next one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { FakeNetfilter } from '../../agent/apply/netfilter.fake.js';
import { watchDrift } from '../../agent/daemon/drift.js';
import { Engine } from '../../agent/engine/engine.js';
import { createLogger } from '../../agent/log.js';
import { DriftRepairMetric } from '../../agent/metrics/drift.js';
import { parsedConfig } from '../support/config.js';
import { waitFor } from '../netns/poll.js';

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

/** A drift watch on a fake netfilter, its log lines kept. */
async function watched(driver: 'iptables' | 'nftables') {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  const logger = createLogger('info', sink);
  const netfilter = new FakeNetfilter(driver);
  const engine = new Engine({ netfilter, conntrack: { cut: async () => 0 }, logger, now: Date.now, persist: async () => {} });
  await engine.start(parsedConfig('node: { id: lb1 }\n'), new Map(), new Map());
  const watch = watchDrift('0 0 * * * *', netfilter, engine, logger, () => 1234);
  return { lines, netfilter, watch };
}

const deleteRule = { kind: 'delete', verb: 'delete', object: 'rule', family: 'ip', table: 'ha_agent', chain: 'farm_web', handle: 9 } as const;

test('a change event is logged with its writer and repaired at once: only the named objects (nftables), all (iptables)', async () => {
  for (const driver of ['nftables', 'iptables'] as const) {
    const { lines, netfilter, watch } = await watched(driver);
    try {
      watch.onEvent({ cause: 'change', generation: 7, pid: 42, process: 'nft', events: [deleteRule], reasons: ['delete rule ip ha_agent farm_web handle 9'] });
      await waitFor(() => watch.repairs === 1 || undefined, { timeoutMs: 1000, what: 'the repair' });
      assert.deepEqual(netfilter.repairs, [driver === 'nftables' ? [{ family: 'ip', kind: 'chain', name: 'farm_web', deleted: false }] : undefined]);
      assert.equal(netfilter.verifies, 0, 'the repair reads the rules itself');
      assert.ok(lines.some((l) => l.msg === 'rules changed by nft (pid 42): delete rule ip ha_agent farm_web handle 9; repairing'), JSON.stringify(lines.map((l) => l.msg)));
      assert.deepEqual(watch.lastDrift, { at: 1234, how: 'event', what: 'delete rule ip ha_agent farm_web handle 9 by nft (pid 42)' });
      assert.equal(watch.eventChecks, 1);
    } finally {
      watch.stop();
    }
  }
});

test('lost events bring a full verify, and a repair only when it finds drift', async () => {
  const { netfilter, watch } = await watched('nftables');
  try {
    watch.onEvent({ cause: 'lost', events: [], reasons: ['the nf_tables event socket overflowed: changes were lost'] });
    await waitFor(() => netfilter.verifies === 1 || undefined, { timeoutMs: 1000, what: 'the verify' });
    assert.deepEqual(netfilter.repairs, []);
    netfilter.drift = ['chain farm_web: missing from the kernel'];
    watch.onEvent({ cause: 'lost', events: [], reasons: ['nft monitor restarted'] });
    await waitFor(() => watch.repairs === 1 || undefined, { timeoutMs: 1000, what: 'the repair' });
    assert.deepEqual(netfilter.repairs, [undefined]);
    assert.equal(watch.lastDrift?.what, 'chain farm_web: missing from the kernel');
  } finally {
    watch.stop();
  }
});

test('events that arrive while a check runs are done together in one more check', async () => {
  const { netfilter, watch } = await watched('nftables');
  try {
    for (const chain of ['farm_a', 'farm_b', 'farm_c']) {
      watch.onEvent({ cause: 'change', pid: 1, process: 'nft', events: [{ ...deleteRule, chain }], reasons: [`delete rule ip ha_agent ${chain} handle 9`] });
    }
    await waitFor(() => watch.eventChecks === 2 || undefined, { timeoutMs: 1000, what: 'two checks' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(watch.eventChecks, 2);
    assert.deepEqual(netfilter.repairs.map((r) => r?.map((o) => o.name)), [['farm_a'], ['farm_b', 'farm_c']]);
  } finally {
    watch.stop();
  }
});

test('a change whose writer the kernel does not name is verified, not repaired: the agent`s own applies are among them', async () => {
  const { netfilter, watch } = await watched('nftables');
  try {
    watch.onEvent({ cause: 'change', generation: 3, events: [deleteRule], reasons: ['delete rule ip ha_agent farm_web handle 9'] });
    await waitFor(() => netfilter.verifies === 1 || undefined, { timeoutMs: 1000, what: 'the verify' });
    assert.deepEqual(netfilter.repairs, []);
    assert.equal(watch.repairs, 0);
  } finally {
    watch.stop();
  }
});

test('ha_agent_drift_repairs_total counts each repair where it happens, labelled by how the drift was found', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  const logger = createLogger('info', sink);
  const netfilter = new FakeNetfilter('nftables');
  const engine = new Engine({ netfilter, conntrack: { cut: async () => 0 }, logger, now: Date.now, persist: async () => {} });
  await engine.start(parsedConfig('node: { id: lb1 }\n'), new Map(), new Map());
  const metric = new DriftRepairMetric();
  const count = async (how: string) => (await metric.counter.get()).values.find((v) => v.labels.how === how)?.value;
  assert.deepEqual([await count('event'), await count('sweep')], [0, 0], 'both series exist before the first repair');
  // The sweep every second, so that one runs within the test.
  const watch = watchDrift('* * * * * *', netfilter, engine, logger, Date.now, metric);
  try {
    watch.onEvent({ cause: 'change', generation: 7, pid: 42, process: 'nft', events: [deleteRule], reasons: ['delete rule ip ha_agent farm_web handle 9'] });
    await waitFor(() => watch.repairs === 1 || undefined, { timeoutMs: 1000, what: 'the event repair' });
    assert.deepEqual([await count('event'), await count('sweep')], [1, 0]);
    netfilter.drift = ['chain farm_web: missing from the kernel'];
    await waitFor(() => watch.repairs === 2 || undefined, { timeoutMs: 3000, what: 'the sweep repair' });
    assert.equal(watch.lastDrift?.how, 'sweep');
    assert.deepEqual([await count('event'), await count('sweep')], [1, 1]);
  } finally {
    watch.stop();
  }
});
