// The response reader alone: status lines as a table, and every response read the same however
// it is split into chunks.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLOSED_EARLY, MALFORMED_STATUS } from '../../checks/http-connector.js';
import { BODY_LIMIT, parseStatusLine, ResponseReader, type ReadStep } from '../../checks/http-response.js';

/** Feeds `parts` in order, then the end of the connection if nothing was decided before. */
function read(parts: readonly string[], wantsBody = true, head = false): ReadStep {
  const reader = new ResponseReader(() => wantsBody, head);
  for (const part of parts) {
    const step = reader.push(Buffer.from(part, 'latin1'));
    if (step) return step;
  }
  return reader.end();
}

/** Every split of `text` into two chunks, and one byte per chunk, give `want`. */
function everySplit(text: string, want: ReadStep, wantsBody = true): void {
  for (let i = 0; i <= text.length; i++) assert.deepEqual(read([text.slice(0, i), text.slice(i)], wantsBody), want, `split at ${i}`);
  assert.deepEqual(read([...text], wantsBody), want, 'one byte per chunk');
}

describe('parseStatusLine', () => {
  const table: Array<[string, number | undefined]> = [
    ['HTTP/1.1 200 OK', 200], ['HTTP/1.0 503 Service Unavailable', 503], ['HTTP/1.1 204', 204], ['HTTP/1.1 301 \r', 301],
    ['HTTP/1.1 099 Low', undefined], ['HTTP/1.1 2000 OK', undefined], ['HTTP/1.1 20', undefined], ['HTTP/11 200 OK', undefined],
    ['http/1.1 200 OK', undefined], [' HTTP/1.1 200 OK', undefined], ['HTTP/1.1  200 OK', undefined], ['', undefined],
  ];
  for (const [line, want] of table) it(`${JSON.stringify(line)} -> ${want}`, () => assert.equal(parseStatusLine(line), want));
});

describe('ResponseReader', () => {
  const body = (text: string, cut = false) => ({ status: 200, body: { text, cut } });

  it('stops at the status line when the body is not wanted', () => {
    everySplit('HTTP/1.1 404 Not Found\r\nX: y\r\n\r\nwhatever', { status: 404 }, false);
  });

  it('reads a Content-Length body, a chunked body and a body to the end, however split', () => {
    everySplit('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA', body('hello'));
    everySplit('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\nTrailer: 1\r\n\r\n', body('hello'));
    everySplit('HTTP/1.0 200 OK\n\nhello', body('hello'));
  });

  it('has no body after HEAD, 204 and 304', () => {
    assert.deepEqual(read(['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'], true, true), body(''));
    assert.deepEqual(read(['HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n']), { status: 204, body: { text: '', cut: false } });
  });

  it('reads at most BODY_LIMIT bytes of body and says it cut', () => {
    const step = read([`HTTP/1.1 200 OK\r\n\r\n${'x'.repeat(BODY_LIMIT - 1)}`, 'yz']);
    assert.equal(step.status, 200);
    assert.deepEqual([step.body?.text.length, step.body?.cut, step.body?.text.endsWith('xy')], [BODY_LIMIT, true, true]);
  });

  it('fails on what a check cannot trust', () => {
    const table: Array<[string[], string]> = [
      [[''], CLOSED_EARLY],
      [['HTTP/1.1 200 O'], CLOSED_EARLY],
      [['HTTP/1.1 OK\r\n'], MALFORMED_STATUS],
      [[`HTTP/1.1 200 ${'x'.repeat(1100)}`], MALFORMED_STATUS],
      [['HTTP/1.1 200 OK\r\nX: y\r\n'], 'closed before the end of the headers'],
      [[`HTTP/1.1 200 OK\r\nX: ${'y'.repeat(17_000)}`], 'headers larger than 16 KiB'],
      [['HTTP/1.1 200 OK\r\nno colon\r\n\r\n'], 'malformed header line'],
      [['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'], 'malformed content-length'],
      [['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello'], 'closed before the end of the body'],
      [['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'], 'malformed chunked body'],
      [['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n'], 'malformed chunked body'],
      [['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel'], 'closed before the end of the body'],
    ];
    for (const [parts, failure] of table) assert.deepEqual(read(parts), { failure }, JSON.stringify(parts));
  });
});
