// What the agent tells systemd, and when, on a fake clock: watchdog pings at the asked rate,
// READY=1 once, RELOADING=1 (with MONOTONIC_USEC) then READY=1, STATUS= lines only when they
// change and at most once a second, STOPPING=1, nothing at all without NOTIFY_SOCKET.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { FakeClock } from '../../checks/clock.fake.js';
import { createLogger, silentLogger } from '../../agent/log.js';
import { SystemdNotifier, statusLine, type NotifierDeps } from '../../agent/daemon/notifier.js';
import type { Status } from '../../agent/control/status.js';

function setup(over: Partial<NotifierDeps> = {}) {
  const clock = new FakeClock(1000);
  const sent: { at: number; message: string }[] = [];
  const notifier = new SystemdNotifier({
    send: (message) => void sent.push({ at: clock.now(), message }),
    clock, logger: silentLogger, monotonicUsec: () => 123_456_789n, statusIntervalMs: 1000, statusRefreshMs: 10_000, ...over,
  });
  return { clock, sent, notifier, messages: () => sent.map((s) => s.message) };
}

test('watchdog: WATCHDOG=1 at once, then every interval, and none after stop', async () => {
  const { clock, sent, notifier } = setup({ watchdogMs: 200 });
  notifier.start();
  await clock.advance(1000);
  const pings = sent.filter((s) => s.message === 'WATCHDOG=1').map((s) => s.at);
  assert.deepEqual(pings, [1000, 1200, 1400, 1600, 1800, 2000]);
  notifier.stop();
  await clock.advance(1000);
  assert.equal(sent.filter((s) => s.message === 'WATCHDOG=1').length, 6);
});

test('no watchdog when systemd asked for none', async () => {
  const { clock, sent, notifier } = setup();
  notifier.start();
  await clock.advance(5000);
  assert.deepEqual(sent, []);
});

test('READY=1 once, with the status line; STATUS= while starting only before it', () => {
  const { notifier, messages } = setup();
  notifier.starting('applying 3 farms');
  notifier.ready(() => '3 farms, 7/9 backends up');
  notifier.ready(() => 'again');
  notifier.starting('too late');
  assert.deepEqual(messages(), ['STATUS=applying 3 farms', 'READY=1\nSTATUS=3 farms, 7/9 backends up']);
});

test('status changes: sent when the line changed, at once and then at most once per interval, the latest line', async () => {
  const { clock, sent, notifier } = setup();
  let line = 'a';
  notifier.ready(() => line);
  notifier.changed(); // same line, and within the interval: a timer, then nothing to say
  await clock.advance(1000);
  assert.equal(sent.length, 1);
  line = 'b';
  notifier.changed();
  assert.deepEqual(sent.slice(1), [{ at: 2000, message: 'STATUS=b' }], 'at once: the interval since READY has passed');
  line = 'c';
  notifier.changed();
  line = 'd';
  notifier.changed();
  await clock.advance(999);
  assert.equal(sent.length, 2, 'no second line within the interval');
  await clock.advance(1);
  assert.deepEqual(sent.slice(2), [{ at: 3000, message: 'STATUS=d' }], 'the latest line, once');
  await clock.advance(5000);
  assert.equal(sent.length, 3);
});

test('status is looked at now and then without an event (the cluster state has none)', async () => {
  const { clock, notifier, messages } = setup();
  let line = 'cluster connected';
  notifier.ready(() => line);
  line = 'cluster disconnected';
  await clock.advance(10_000);
  assert.deepEqual(messages().slice(1), ['STATUS=cluster disconnected']);
});

test('a multi-line status stays one assignment', () => {
  const { notifier, messages } = setup();
  notifier.ready(() => 'one\ntwo');
  assert.deepEqual(messages(), ['READY=1\nSTATUS=one two']);
});

test('reload: RELOADING=1 with MONOTONIC_USEC, then READY=1 with the status; none before READY', () => {
  const { notifier, messages } = setup();
  notifier.reloading();
  notifier.reloaded();
  assert.deepEqual(messages(), [], 'a reload while starting is part of starting');
  notifier.ready(() => 'up');
  notifier.reloading();
  notifier.changed();
  notifier.reloaded();
  notifier.reloaded();
  assert.deepEqual(messages(), ['READY=1\nSTATUS=up', 'RELOADING=1\nMONOTONIC_USEC=123456789\nSTATUS=reloading the config', 'READY=1\nSTATUS=up']);
});

test('STOPPING=1 once; no READY=1 or status after it', async () => {
  const { clock, notifier, messages } = setup();
  notifier.ready(() => 'up');
  notifier.reloading();
  notifier.stopping();
  notifier.stopping();
  notifier.reloaded();
  notifier.changed();
  await clock.advance(20_000);
  assert.deepEqual(messages().slice(2), ['STOPPING=1\nSTATUS=stopping']);
});

test('without NOTIFY_SOCKET nothing is sent and no timer runs', async () => {
  const clock = new FakeClock();
  const notifier = new SystemdNotifier({ clock, logger: silentLogger, monotonicUsec: () => 0n, watchdogMs: 100 });
  notifier.start();
  notifier.ready(() => { throw new Error('not asked for'); });
  notifier.changed();
  notifier.stopping();
  assert.equal(clock.pendingTimers, 0);
});

test('a failing send is logged once, and again once it works after failing', async () => {
  const lines: string[] = [];
  const logger = createLogger('info', new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
  let error: string | undefined = 'sending to /run/x: ECONNREFUSED';
  const clock = new FakeClock();
  const notifier = new SystemdNotifier({ send: () => error, clock, logger, monotonicUsec: () => 0n, watchdogMs: 100 });
  notifier.start();
  notifier.ready(() => 'up');
  notifier.stopping();
  const logged = () => lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: string });
  assert.deepEqual(logged().map((l) => [l.level, l.msg, l.err]), [[40, 'cannot notify systemd', 'sending to /run/x: ECONNREFUSED']]);
  error = undefined;
  await clock.advance(100);
  assert.deepEqual(logged().slice(1).map((l) => l.msg), ['notifying systemd works again']);
});

const status = (over: Partial<Status>): Status => ({
  node: 'lb1', version: '0', uptime_s: 1,
  vrrp: { state: 'DISABLED', since: '' },
  cluster: { state: 'disabled', peers: [] },
  dataplane: { driver: 'iptables', in_sync: true, last_error: null, applies: 1, apply_errors: 0, last_apply_ms: 1, last_apply_at: null, drift_repairs: 0, last_drift: null, drift_event_checks: 0 },
  farms: [],
  ...over,
});
const farm = (healths: string[]) => ({ backends: healths.map((health) => ({ health })) }) as unknown as Status['farms'][number];

const LINES: [string, Status, string][] = [
  ['no farms', status({}), '0 farms, 0/0 backends up'],
  ['one farm', status({ farms: [farm(['up', 'down'])] }), '1 farm, 1/2 backends up'],
  ['VRRP, cluster and a dataplane out of sync', status({
    farms: [farm(['up', 'up', 'unknown']), farm(['up']), farm(['down'])],
    vrrp: { state: 'MASTER', since: '' },
    cluster: { state: 'disconnected', peers: [] },
    dataplane: { ...status({}).dataplane, in_sync: false },
  }), '3 farms, 3/5 backends up, VRRP MASTER, cluster disconnected, rules out of sync'],
];
for (const [name, input, want] of LINES) test(`statusLine: ${name}`, () => assert.equal(statusLine(input), want));
