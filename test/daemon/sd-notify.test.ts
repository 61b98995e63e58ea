// The notification socket as the agent finds and uses it: which variables count, that they are
// taken out of the environment, and one datagram per message from this process's pid to a path
// or an abstract ("@") address, as systemd's socket receives it.

import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monotonicUsec, notifyEnv, notifySender, takeNotifyEnv } from '../../agent/daemon/sd-notify.js';
import { monotonicMs, NotifyReceiver } from './notify-socket.js';

const ENV: [string, NodeJS.ProcessEnv, { socket: string | undefined; watchdogMs: number | undefined }][] = [
  ['nothing set', {}, { socket: undefined, watchdogMs: undefined }],
  ['an empty NOTIFY_SOCKET is none', { NOTIFY_SOCKET: '' }, { socket: undefined, watchdogMs: undefined }],
  ['a socket without watchdog', { NOTIFY_SOCKET: '/run/systemd/notify' }, { socket: '/run/systemd/notify', watchdogMs: undefined }],
  ['watchdog: half of WATCHDOG_USEC', { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '400000' }, { socket: '@x', watchdogMs: 200 }],
  ['watchdog for this pid', { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, { socket: '@x', watchdogMs: 15_000 }],
  ['watchdog for another pid is not ours', { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, { socket: '@x', watchdogMs: undefined }],
  ['a watchdog needs a socket to ping', { WATCHDOG_USEC: '400000' }, { socket: undefined, watchdogMs: undefined }],
  ['a WATCHDOG_USEC that is no number', { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '5s' }, { socket: '@x', watchdogMs: undefined }],
  ['a zero WATCHDOG_USEC', { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '0' }, { socket: '@x', watchdogMs: undefined }],
];
for (const [name, env, want] of ENV) test(`notifyEnv: ${name}`, () => assert.deepEqual(notifyEnv(env, 42), want));

test('takeNotifyEnv removes the variables, so children do not notify in the agent\'s name', () => {
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000', WATCHDOG_PID: '7', PATH: '/bin' };
  assert.deepEqual(takeNotifyEnv(env, 7), { socket: '@x', watchdogMs: 0.5 });
  assert.deepEqual(env, { PATH: '/bin' });
});

test('monotonicUsec is CLOCK_MONOTONIC, the clock systemd compares MONOTONIC_USEC with', () => {
  const before = monotonicMs();
  const usec = Number(monotonicUsec());
  assert.ok(usec / 1000 >= before - 1 && usec / 1000 <= monotonicMs() + 1, `${usec} µs vs ${before} ms`);
});

test('a sender without the built module says which file is missing', () => {
  const r = notifySender('/run/x', '/nonexistent/sd_notify.node');
  assert.equal(r.send, undefined);
  assert.equal(r.error, '/nonexistent/sd_notify.node is not built (native/build.sh)');
});

describe('sd_notify datagrams', () => {
  let dir: string;
  const receivers: NotifyReceiver[] = [];
  before(() => { dir = mkdtempSync(join(tmpdir(), 'ha-agent-notify-')); });
  after(async () => {
    for (const r of receivers) await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['path', 'abstract'] as const) {
    it(`one message is one datagram from this pid (${kind} address)`, async () => {
      const address = kind === 'path' ? join(dir, 'notify') : `@ha-agent-test-${process.pid}-${Date.now()}`;
      const receiver = await NotifyReceiver.start(address);
      receivers.push(receiver);
      const sender = notifySender(address);
      assert.ok(sender.send, sender.error);
      assert.equal(sender.send('READY=1\nSTATUS=1 farm, 2/2 backends up'), undefined);
      assert.equal(sender.send('WATCHDOG=1'), undefined);
      await receiver.waitFor((n) => n.fields.has('WATCHDOG'), 3000, 'the ping');
      assert.deepEqual(receiver.messages.map((m) => [m.pid, m.message]), [
        [process.pid, 'READY=1\nSTATUS=1 farm, 2/2 backends up'],
        [process.pid, 'WATCHDOG=1'],
      ]);
    });
  }

  it('no one listening, or an address that cannot be one: the error, not a throw', () => {
    const missing = join(dir, 'nobody');
    assert.equal(notifySender(missing).send!('READY=1'), `sending to ${missing}: ENOENT`);
    for (const bad of ['relative/path', '@', '/' + 'x'.repeat(107), `@${'x'.repeat(108)}`]) {
      assert.equal(notifySender(bad).send!('READY=1'), `sending to ${bad}: EINVAL`, bad);
    }
  });

  it('the longest addresses that fit are used whole', async () => {
    const abstract = `@${'a'.repeat(107)}`;
    const receiver = await NotifyReceiver.start(abstract);
    receivers.push(receiver);
    assert.equal(notifySender(abstract).send!('READY=1'), undefined);
    await receiver.waitFor((n) => n.fields.get('READY') === '1', 3000, 'READY=1 on the longest abstract address');
  });
});
