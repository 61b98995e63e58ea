// parseDuration / readDuration / formatDuration, table-driven.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDuration, readDuration } from '../../config/duration.js';

const FORM = 'a duration like 250ms, 2s or 1m';

const READ: readonly { readonly input: unknown; readonly want: number | string }[] = [
  { input: '250ms', want: 250 },
  { input: '2s', want: 2000 },
  { input: '1.5s', want: 1500 },
  { input: '1.1s', want: 1100 },
  { input: '0.25s', want: 250 },
  { input: '1m', want: 60_000 },
  { input: '1h', want: 3_600_000 },
  { input: ' 2s ', want: 2000 },
  { input: '2 s', want: `"2 s" is not ${FORM}` },
  { input: 'fast', want: `"fast" is not ${FORM}` },
  { input: '2', want: `"2" is not ${FORM}` },
  { input: '2S', want: `"2S" is not ${FORM}` },
  { input: '-1s', want: `"-1s" is negative; expected ${FORM}` },
  { input: '0s', want: `"0s" is zero; expected ${FORM}` },
  { input: '1.0005s', want: '"1.0005s" is finer than a millisecond' },
  { input: '0.5ms', want: '"0.5ms" is finer than a millisecond' },
  { input: 5, want: `5 has no unit; write 5s or 5ms (${FORM})` },
  { input: true, want: `expected ${FORM}, got true` },
  { input: null, want: `expected ${FORM}, got null` },
];

for (const { input, want } of READ) {
  test(`readDuration(${JSON.stringify(input)}) -> ${JSON.stringify(want)}`, () => {
    assert.equal(readDuration(input), want);
  });
}

test('parseDuration: milliseconds or null', () => {
  assert.equal(parseDuration('2s'), 2000);
  assert.equal(parseDuration('fast'), null);
  assert.equal(parseDuration('0s'), null);
});

const FORMAT: readonly [number, string][] = [
  [250, '250ms'], [1000, '1s'], [1500, '1500ms'], [60_000, '1m'], [90_000, '90s'], [7_200_000, '2h'], [0, '0ms'],
];

for (const [ms, want] of FORMAT) {
  test(`formatDuration(${ms}) -> ${want}`, () => {
    assert.equal(formatDuration(ms), want);
    if (ms > 0) assert.equal(parseDuration(want), ms, 'round-trips');
  });
}
