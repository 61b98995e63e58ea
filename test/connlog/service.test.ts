// The connection log reader: records name the backend by its mark (under the mask, and only a
// backend of the farm the prefix names); at most ratePerSecond lines pass, the rest are counted
// and reported; the kernel's "# lost" lines count as dropped. A fake NFLOG source feeds it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../checks/clock.fake.js';
import type { NflogSource } from '../../agent/connlog/native.js';
import { ConnLog, type ConnLogRecord } from '../../agent/connlog/service.js';

const SYN = '450000340000400040060000' + '0a0100020a010064' + '9c401f90';

function setup(rate: number) {
  let feed: ((text: string) => void) | undefined;
  let closed = false;
  const source: NflogSource = { open: (group, onLines) => { assert.equal(group, 7); feed = onLines; return { close: () => { closed = true; } }; } };
  const clock = new FakeClock(0);
  const records: ConnLogRecord[] = [];
  const drops: number[] = [];
  const marks = new Map([['web/b1', 0x20c], ['web/b2', 0x20d], ['other/x', 0x20e]]);
  const log = new ConnLog({ source, group: 7, marks: () => marks, mask: () => 0x3fff, clock, sink: (r) => records.push(r), dropped: (n) => drops.push(n), ratePerSecond: rate });
  log.start();
  return { feed: (text: string) => feed!(text), clock, records, drops, log, closed: () => closed };
}

test('each line is a record naming the backend its mark chose', () => {
  const s = setup(100);
  // The mark's bits outside the agent's mask (other software's) do not matter.
  s.feed(`2 ${0x4000020d} ha-agent:web ${SYN}\n2 ${0x20c} ha-agent:web ${SYN}\n`);
  assert.deepEqual(s.records.map((r) => r.backend), ['b2', 'b1']);
  assert.deepEqual(s.records[0], { farm: 'web', backend: 'b2', protocol: 'tcp', client: '10.1.0.2', client_port: 40000, vip: '10.1.0.100', port: 8080 });
});

test('a mark of another farm, or of no backend, names no backend', () => {
  const s = setup(100);
  s.feed(`2 ${0x20e} ha-agent:web ${SYN}\n2 ${0x999} ha-agent:web ${SYN}\n`);
  assert.deepEqual(s.records.map((r) => r.backend), [undefined, undefined]);
});

test('over the rate, lines are dropped and counted; the count is told once a second', async () => {
  const s = setup(10);
  s.feed(Array.from({ length: 25 }, () => `2 ${0x20c} ha-agent:web ${SYN}\n`).join('') + '# lost\n');
  assert.equal(s.records.length, 10);
  await s.clock.advance(1000);
  // A second later the bucket is full again, and the drops so far are reported.
  s.feed(Array.from({ length: 12 }, () => `2 ${0x20c} ha-agent:web ${SYN}\n`).join(''));
  assert.deepEqual(s.drops, [16]);
  assert.equal(s.records.length, 20);
  s.log.stop();
  assert.deepEqual(s.drops, [16, 2]);
  assert.ok(s.closed());
});
