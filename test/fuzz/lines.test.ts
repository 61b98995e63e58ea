// Fuzzing line framing and keepalived's notify lines: the capped splitter against a plain model
// (random bytes, invalid UTF-8, random chunking, lines around the cap), the notify-line parser on
// random and mutated lines, and the FIFO reader on a real FIFO fed random bytes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { LineSplitter } from '../../agent/io/lines.js';
import { MAX_LINE, parseNotifyLine } from '../../agent/vrrp/notify.js';
import { readFifoLines } from '../../agent/vrrp/fifo.js';
import { anyBytes, anyText, HEAP_BOUND, heapGrowth, params, PROTO_WORDS, runs, testTimeout } from './support.js';

const decode = (b: Buffer): string => { const t = b.toString('utf8'); return t.endsWith('\r') ? t.slice(0, -1) : t; };

/** What the splitter must return for `data` as a whole: the model it is checked against. */
function model(data: Buffer, cap: number): { lines: string[]; last: string[]; dropped: number } {
  const lines: string[] = [];
  let dropped = 0;
  let start = 0;
  for (let nl = data.indexOf(0x0a); nl >= 0; start = nl + 1, nl = data.indexOf(0x0a, start)) {
    const piece = data.subarray(start, nl);
    if (piece.length > cap) dropped++;
    else lines.push(decode(piece));
  }
  const rest = data.subarray(start);
  if (rest.length > cap) return { lines, last: [], dropped: dropped + 1 };
  return { lines, last: rest.length > 0 ? [decode(rest)] : [], dropped };
}

/** Bytes made of short and long runs around newlines, so lines land on both sides of the cap. */
const framed = fc.array(fc.oneof(anyBytes(40), fc.constant(Buffer.from('\n')), fc.constant(Buffer.from('\r\n')),
  fc.nat(80).map((n) => Buffer.alloc(n, 0x61)), fc.constant(Buffer.from([0xe2, 0x82])), fc.constant(Buffer.from([0xac]))), { maxLength: 30 })
  .map((parts) => Buffer.concat(parts));

/** `data` cut into chunks at the given offsets. */
const chunked = (data: Buffer, cuts: number[]): Buffer[] => {
  const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, data.length]) {
    out.push(data.subarray(prev, c));
    prev = c;
  }
  return out;
};

describe('fuzz: line framing and notify lines', () => {
  const RUNS = 10_000;
  it(`LineSplitter: any chunking of any bytes gives the model's lines, drops and pending bound (${runs(RUNS)} runs)`, { timeout: testTimeout(30_000, RUNS) }, async () => {
    const growth = await heapGrowth(() => fc.assert(fc.property(framed, fc.array(fc.nat(), { maxLength: 12 }), fc.integer({ min: 1, max: 64 }), (data, cuts, cap) => {
      const splitter = new LineSplitter(cap);
      const got: string[] = [];
      for (const chunk of chunked(data, cuts)) {
        got.push(...splitter.push(chunk));
        assert.ok(splitter.pendingBytes <= cap, `pending ${splitter.pendingBytes} over the cap ${cap}`);
      }
      const last = splitter.end();
      const want = model(data, cap);
      assert.deepEqual(got, want.lines);
      assert.deepEqual(last, want.last);
      assert.equal(splitter.overlongLines, want.dropped);
      assert.equal(splitter.pendingBytes, 0);
    }), params(RUNS)));
    assert.ok(growth < HEAP_BOUND, `heap grew ${growth} bytes`);
  });

  const name = fc.string({ unit: fc.oneof(fc.constantFrom(' ', '\t', '\r', 'é', '_'), fc.string({ minLength: 1, maxLength: 1 }).filter((c) => c !== '"' && c !== '\n')), minLength: 1, maxLength: 128 });
  const state = fc.constantFrom('MASTER', 'BACKUP', 'FAULT', 'STOP', 'DELETED', 'MASTER_RX_LOWER_PRI', 'UNKNOWN', ...PROTO_WORDS);
  const validish = fc.tuple(fc.constantFrom('INSTANCE', 'GROUP', 'instance', 'VS'), name, state, fc.option(fc.oneof(fc.nat(999), fc.constant(-1))))
    .map(([kind, n, s, p]) => `${kind} "${n}" ${s}${p === null ? '' : ` ${p}`}`);
  const mutated = fc.tuple(validish, fc.nat(), fc.nat(3), anyText(8)).map(([line, at, del, insert]) => {
    const i = at % (line.length + 1);
    return line.slice(0, i) + insert + line.slice(i + del);
  });

  it(`parseNotifyLine: any line is ignored or a known state with a clean name and a priority 0-255 (${runs(RUNS)} runs)`, { timeout: testTimeout(30_000, RUNS) }, () => {
    fc.assert(fc.property(fc.oneof(anyText(300), validish, mutated), (line) => {
      const event = parseNotifyLine(line);
      if (event === undefined) return;
      assert.ok(event.kind === 'instance' || event.kind === 'group');
      assert.ok(['MASTER', 'BACKUP', 'FAULT', 'STOP'].includes(event.state), event.state);
      assert.match(event.name, /^[^"\n]{1,128}$/);
      if (event.priority !== undefined) assert.ok(Number.isInteger(event.priority) && event.priority >= 0 && event.priority <= 255);
    }), params(RUNS));
  });

  it(`parseNotifyLine: a well-formed line reads back as written (${runs(RUNS)} runs)`, { timeout: testTimeout(30_000, RUNS) }, () => {
    fc.assert(fc.property(fc.constantFrom('INSTANCE', 'GROUP'), name.filter((n) => n.trim() === n), fc.constantFrom('MASTER', 'BACKUP', 'FAULT', 'STOP'), fc.option(fc.nat(255)), (kind, n, s, p) => {
      const event = parseNotifyLine(`${kind} "${n}" ${s}${p === null ? '' : ` ${p}`}`);
      assert.deepEqual(event, { kind: kind === 'GROUP' ? 'group' : 'instance', name: n, state: s, ...(p === null ? {} : { priority: p }) });
    }), params(RUNS));
  });

  const FIFO_RUNS = 200;
  it(`readFifoLines: random bytes on a real FIFO give the splitter's lines, overlong ones dropped (${runs(FIFO_RUNS)} runs)`, { timeout: testTimeout(60_000, FIFO_RUNS) }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ha-fuzz-fifo-'));
    const path = join(dir, 'notify');
    execFileSync('mkfifo', ['-m', '0600', path]);
    try {
      await fc.assert(fc.asyncProperty(fc.array(fc.oneof(anyBytes(300), fc.nat(3 * MAX_LINE).map((n) => Buffer.alloc(n, 0x41)), fc.constant(Buffer.from('\n'))), { maxLength: 12 }), async (parts) => {
        const data = Buffer.concat([...parts, Buffer.from('\nEND\n')]);
        const got: string[] = [];
        const reader = readFifoLines(path, (line) => got.push(line));
        try {
          const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
          try {
            writeSync(fd, data);
          } finally {
            closeSync(fd);
          }
          const deadline = Date.now() + 2000;
          while (got.at(-1) !== 'END') {
            assert.ok(Date.now() < deadline, `END not read; got ${got.length} lines`);
            await new Promise((r) => setTimeout(r, 2));
          }
        } finally {
          reader.close();
        }
        assert.deepEqual(got, model(data, MAX_LINE).lines);
      }), params(FIFO_RUNS, 5000));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
