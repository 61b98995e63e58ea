// The one line splitter: chunks split anywhere (inside a line, a "\r\n", a UTF-8 character),
// the cap counted in bytes, an overlong line dropped whole and reported, the tail at end.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter } from '../../agent/io/lines.js';

/** Feeds `chunks` one by one and collects every line, the tail at end included. */
function split(max: number, chunks: readonly (string | Buffer)[]): { lines: string[]; overlong: number } {
  const s = new LineSplitter(max);
  const lines = chunks.flatMap((c) => s.push(c));
  return { lines: [...lines, ...s.end()], overlong: s.overlongLines };
}

describe('LineSplitter', () => {
  it('gives the same lines however the stream is cut', () => {
    const text = 'first\r\nsecond\n\nthird é€ line\r\nlast';
    const want = ['first', 'second', '', 'third é€ line', 'last'];
    const bytes = Buffer.from(text, 'utf8');
    for (let size = 1; size <= bytes.length; size++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
      assert.deepEqual(split(64, chunks), { lines: want, overlong: 0 }, `chunks of ${size} bytes`);
    }
  });

  it('keeps an unfinished line until its newline, and reports its size meanwhile', () => {
    const s = new LineSplitter(64);
    assert.deepEqual(s.push('{"cmd":'), []);
    assert.equal(s.pendingBytes, 7);
    assert.deepEqual(s.push('"status"}\n{"cmd"'), ['{"cmd":"status"}']);
    assert.equal(s.pendingBytes, 6);
    assert.deepEqual(s.push('\n'), ['{"cmd"']);
    assert.equal(s.pendingBytes, 0);
    assert.deepEqual(s.end(), []);
  });

  it('accepts a line of exactly the cap in bytes, and not one byte more', () => {
    assert.deepEqual(split(4, ['abcd\n']), { lines: ['abcd'], overlong: 0 });
    assert.deepEqual(split(4, ['abcde\n']), { lines: [], overlong: 1 });
    // "é" is two bytes: three of them are six, over a cap of five characters' worth of ASCII.
    assert.deepEqual(split(5, ['ééé\n']), { lines: [], overlong: 1 });
    assert.deepEqual(split(6, ['ééé\n']), { lines: ['ééé'], overlong: 0 });
  });

  it('reports an overlong line as soon as it passes the cap, before its newline arrives', () => {
    const s = new LineSplitter(8);
    assert.deepEqual(s.push('ok\n12345'), ['ok']);
    assert.equal(s.overlongLines, 0);
    assert.deepEqual(s.push('6789'), []);
    assert.equal(s.overlongLines, 1);
    assert.equal(s.pendingBytes, 0, 'nothing of it is kept');
    assert.deepEqual(s.push('still the same line'), []);
    assert.deepEqual(s.push(' to here\nnext\n'), ['next']);
    assert.equal(s.overlongLines, 1, 'one line, however many chunks it came in');
  });

  it('drops each overlong line and keeps the lines around it', () => {
    const long = 'x'.repeat(20);
    assert.deepEqual(split(8, [`a\n${long}\nb\n${long}\n${long}\nc`]), { lines: ['a', 'b', 'c'], overlong: 3 });
  });

  it('does not hand back the tail of an overlong line at end', () => {
    assert.deepEqual(split(4, ['abcdefgh']), { lines: [], overlong: 1 });
  });

  it('copies what it keeps: a caller may reuse its buffer', () => {
    const s = new LineSplitter(64);
    const buffer = Buffer.from('abc');
    s.push(buffer);
    buffer.write('XYZ');
    assert.deepEqual(s.push('\n'), ['abc']);
  });

  it('refuses a cap that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new LineSplitter(bad), RangeError);
  });
});
