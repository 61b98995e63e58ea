// Reading a soak history back: every record the generator writes survives the JSON-lines round
// trip unchanged, and a malformed line is an error naming its line number and what is wrong.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildHistory } from './history.gen.js';
import { HistoryFormatError, parseHistory, readHistory } from './read.js';

const script = { seed: 1, conntrackd: true, steps: [
  { type: 'backend' as const, fault: 'backend-kill' as const, backend: 0, at: 12_000, dur: 3000 },
  { type: 'op' as const, action: 'push-invalid' as const, lb: 0, backend: 0, at: 13_000 },
  { type: 'op' as const, action: 'drain' as const, lb: 1, backend: 1, at: 14_000 },
  { type: 'lb' as const, fault: 'agent-sigkill' as const, lb: 0, at: 20_000, dur: 1000 },
  { type: 'point' as const, fault: 'agent-sighup-invalid' as const, lb: 1, at: 22_000 },
  { type: 'stream' as const, farm: 0, at: 1000, dur: 5000 },
] };

const problem = (text: string): string => {
  try {
    parseHistory(text, 'h.jsonl');
  } catch (err) {
    assert.ok(err instanceof HistoryFormatError);
    return err.message;
  }
  assert.fail('expected a format error');
};

describe('soak history reader', () => {
  it('round-trips every kind of record the generator writes', async () => {
    const h = buildHistory(script);
    assert.deepEqual(new Set(h.map((r) => r.kind)), new Set(['run', 'vip', 'fault', 'op', 'conn', 'stream', 'health', 'exit', 'log', 'final', 'end']));
    const dir = await mkdtemp(join(tmpdir(), 'soak-read-'));
    try {
      await writeFile(join(dir, 'h.jsonl'), h.map((r) => JSON.stringify(r)).join('\n') + '\n');
      assert.deepEqual(await readHistory(join(dir, 'h.jsonl')), h);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the line and the problem', () => {
    const end = '{"kind":"end","t":5}';
    assert.equal(problem(`${end}\n{"kind":"end","t":`), 'h.jsonl:2: not JSON: Unexpected end of JSON input');
    assert.match(problem(`${end}\n${end}\n{"kind":"teleport","t":1}`), /^h\.jsonl:3: kind: Invalid discriminator value/);
    assert.match(problem('{"kind":"fault","t":1,"id":1,"fault":"backend-kill","target":"a","phase":"begin"}'), /^h\.jsonl:1: phase: Invalid enum value/);
    assert.match(problem('{"kind":"conn","t":1,"end":2,"farm":"web","ok":"yes"}'), /^h\.jsonl:1: ok: Expected boolean/);
    assert.match(problem('{"kind":"conn","t":-1,"end":2,"farm":"web","ok":true}'), /^h\.jsonl:1: t: Number must be greater than or equal to 0/);
    assert.match(problem('{"kind":"end","t":1,"extra":true}'), /^h\.jsonl:1: \(record\): Unrecognized key\(s\) in object: 'extra'/);
    assert.match(problem('{"kind":"final","t":1,"truth":{},"nodes":[{"node":"lb1","kernel":{"web":{"a":1.5}},"status":{}}]}'), /^h\.jsonl:1: nodes\.0\.kernel\.web\.a: Number must be less than or equal to 1/);
    assert.match(problem(`${end}\n\n${end}\n`), /^h\.jsonl:2: empty line$/);
    assert.match(problem('[1]'), /^h\.jsonl:1: \(record\): /);
  });

  it('reads when an operator command was sent and a connection\'s source port, both optional', () => {
    const op = { kind: 'op', t: 9000, sent: 2000, node: 'lb1', action: 'drain', farm: 'web', backend: 'a', ok: true };
    const conn = { kind: 'conn', t: 1, end: 2, farm: 'web', ok: true, port: 41_000, backend: 'a' };
    assert.deepEqual(parseHistory(`${JSON.stringify(op)}\n${JSON.stringify(conn)}\n`), [op, conn]);
    assert.match(problem(JSON.stringify({ ...op, sent: -1 })), /^h\.jsonl:1: sent: Number must be greater than or equal to 0/);
    assert.match(problem(JSON.stringify({ ...conn, port: 70_000 })), /^h\.jsonl:1: port: Number must be less than or equal to 65535/);
  });

  it('accepts a final newline and an empty history', () => {
    assert.deepEqual(parseHistory('{"kind":"end","t":5}\n'), [{ kind: 'end', t: 5 }]);
    assert.deepEqual(parseHistory(''), []);
  });
});
