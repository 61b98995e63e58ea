// The notify FIFO parser: keepalived's lines become states; garbage, partial and overlong lines do not.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LINE, parseNotifyLine, type NotifyEvent } from '../../agent/vrrp/notify.js';
import { LineSplitter } from '../../agent/io/lines.js';

const CASES: [string, NotifyEvent | undefined][] = [
  ['INSTANCE "ha_agent" MASTER 150', { kind: 'instance', name: 'ha_agent', state: 'MASTER', priority: 150 }],
  ['INSTANCE "ha_agent" BACKUP 100', { kind: 'instance', name: 'ha_agent', state: 'BACKUP', priority: 100 }],
  ['INSTANCE "ha_agent" FAULT 150', { kind: 'instance', name: 'ha_agent', state: 'FAULT', priority: 150 }],
  ['INSTANCE "ha_agent" STOP 150', { kind: 'instance', name: 'ha_agent', state: 'STOP', priority: 150 }],
  ['INSTANCE "VI 1" MASTER 100  ', { kind: 'instance', name: 'VI 1', state: 'MASTER', priority: 100 }],
  ['GROUP "G1" BACKUP 0', { kind: 'group', name: 'G1', state: 'BACKUP', priority: 0 }],
  ['INSTANCE "old" DELETED', { kind: 'instance', name: 'old', state: 'STOP' }],
  // Not transitions.
  ['INSTANCE "ha_agent" MASTER_RX_LOWER_PRI 100', undefined],
  ['INSTANCE "ha_agent" MASTER_PRIORITY 150', undefined],
  ['VS [192.168.201.15]:tcp:80 UP', undefined],
  // Garbage.
  ['', undefined],
  ['INSTANCE ha_agent MASTER 150', undefined],
  ['INSTANCE "ha_agent" master 150', undefined],
  ['INSTANCE "ha_agent" MASTER 150 extra', undefined],
  ['INSTANCE "" MASTER 150', undefined],
  ['INSTANCE "a"b" MASTER 1', undefined],
  ['\u0000\u00ff\ufffd MASTER', undefined],
  ['INSTANCE "ha_agent" MASTER 9999', undefined],
  ['INSTANCE "ha_agent" MASTER 999', { kind: 'instance', name: 'ha_agent', state: 'MASTER' }],
];

describe('parseNotifyLine', () => {
  for (const [line, want] of CASES) {
    it(`${JSON.stringify(line)} -> ${want ? want.state : 'ignored'}`, () => assert.deepEqual(parseNotifyLine(line), want));
  }

  it('never throws on random bytes', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const line = String.fromCharCode(...Array.from({ length: next() % 80 }, () => next() % 256));
      assert.doesNotThrow(() => parseNotifyLine(line));
    }
  });
});

describe('LineSplitter at the notify cap', () => {
  it('joins lines split across chunks and keeps the unfinished tail', () => {
    const s = new LineSplitter(MAX_LINE);
    assert.deepEqual(s.push('INSTANCE "a" MAS'), []);
    assert.deepEqual(s.push('TER 1\nINSTANCE "a" BACKUP 1\nINST'), ['INSTANCE "a" MASTER 1', 'INSTANCE "a" BACKUP 1']);
    assert.deepEqual(s.push('ANCE "a" FAULT 1\n'), ['INSTANCE "a" FAULT 1']);
  });

  it('drops an overlong line entirely, in one chunk or many, and recovers at the next newline', () => {
    const s = new LineSplitter(MAX_LINE);
    const junk = 'x'.repeat(MAX_LINE + 10);
    assert.deepEqual(s.push(`${junk}\nok\n`), ['ok']);
    assert.deepEqual(s.push(junk), []);
    assert.deepEqual(s.push(`${junk}tail`), []);
    assert.deepEqual(s.push('more\nINSTANCE "a" MASTER 1\n'), ['INSTANCE "a" MASTER 1']);
  });
});
