// Fuzzing the control protocol: request lines (random text, mutated valid requests, wrong types,
// deep and huge JSON) through the validator, and random byte streams (partial lines, floods,
// invalid UTF-8, random chunking) through a real Unix-socket server with a fake API. Property:
// each complete line gets exactly one answer, valid or a typed error; the server never dies and
// still serves a fresh connection afterwards.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { listenControl, type ControlSocket } from '../../agent/control/socket.js';
import { call } from '../../agent/control/client.js';
import { SERVER_ERRORS } from '../../agent/control/errors.js';
import { COMMANDS } from '../../agent/control/protocol.js';
import { parseRequest } from '../../agent/control/request.js';
import { ADMIN_STATES } from '../../config/schema.js';
import { silentLogger } from '../../agent/log.js';
import { FakeApi } from '../control/fakes.js';
import { anyBytes, anyText, HEAP_BOUND, heapGrowth, params, PROTO_WORDS, runs, testTimeout } from './support.js';

const CODES = new Set(Object.keys(SERVER_ERRORS));

const VALID = [
  { v: 1, id: 7, cmd: 'status' }, { v: 1, cmd: 'backend', farm: 'web', backend: 'b1', admin: 'drain' },
  { v: 1, id: 'x', cmd: 'reload' }, { v: 1, cmd: 'rules' }, { v: 1, cmd: 'events', n: 20, follow: false },
  { v: 1, cmd: 'config_push', farms: [] }, { v: 1, cmd: 'config_diff' },
];
const FIELDS = ['v', 'id', 'cmd', 'farm', 'backend', 'admin', 'local', 'n', 'follow', 'farms', ...PROTO_WORDS];
const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(...COMMANDS, ...ADMIN_STATES, 1, 0, -1, 1.5, 2 ** 53, 1e308, '', 'web', 'b1'));

/** A valid request with fields replaced, added or removed. */
const mutatedRequest = fc.tuple(fc.constantFrom(...VALID), fc.array(fc.tuple(fc.constantFrom(...FIELDS), fc.option(value)), { maxLength: 4 }))
  .map(([req, edits]) => {
    const out: Record<string, unknown> = { ...req };
    for (const [k, v] of edits) {
      if (v === null) delete out[k];
      else out[k] = v;
    }
    return JSON.stringify(out);
  });
const deepJson = fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":', '{"v":1,"cmd":"config_push","farms":[')).map(([n, open]) => open.repeat(n));
const requestLine = fc.oneof(anyText(300), mutatedRequest, fc.constantFrom(...VALID.map((r) => JSON.stringify(r))), fc.jsonValue().map((v) => JSON.stringify(v)));

describe('fuzz: control protocol', () => {
  const RUNS = 5000;
  it(`parseRequest: any line is a request of a known command or a typed error (${runs(RUNS)} runs)`, { timeout: testTimeout(30_000, RUNS) }, () => {
    fc.assert(fc.property(fc.oneof(requestLine, deepJson, deepJson.map((open) => `${open}${']'.repeat(open.length)}`)), (line) => {
      const parsed = parseRequest(line);
      if (parsed.ok) {
        assert.ok((COMMANDS as readonly string[]).includes(parsed.request.cmd));
        assert.equal(parsed.request.v, 1);
        const r = parsed.request as Record<string, unknown>;
        for (const k of ['farm', 'backend'] as const) if (k in r) assert.ok(typeof r[k] === 'string' && (r[k] as string).length <= 64);
        if ('admin' in r) assert.ok((ADMIN_STATES as readonly unknown[]).includes(r.admin));
      } else {
        assert.ok(CODES.has(parsed.error.code), parsed.error.code);
        assert.ok(parsed.error.message.length > 0);
        assert.ok(parsed.id === null || typeof parsed.id === 'string' || Number.isSafeInteger(parsed.id));
      }
    }), params(RUNS));
  });

  describe('server', () => {
    let dir: string;
    let path: string;
    let control: ControlSocket;
    let api: FakeApi;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ha-fuzz-control-'));
      path = join(dir, 'agent.sock');
      api = new FakeApi();
      control = await listenControl(api, { path, logger: silentLogger, limits: { requestTimeoutMs: 300, idleTimeoutMs: 2000, maxRequestBytes: 64 * 1024 }, maxConnections: 8 });
    });
    after(async () => {
      await control.stop();
      await rm(dir, { recursive: true, force: true });
    });

    /** Sends `chunks`, half-closes, and collects every answer line until the server closes. */
    const exchange = (chunks: readonly Buffer[]): Promise<string[]> => new Promise((resolve, reject) => {
      const socket = connect(path);
      const received: Buffer[] = [];
      socket.on('data', (d: Buffer) => received.push(d));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Buffer.concat(received).toString('utf8').split('\n').filter((l) => l !== '')));
      socket.once('connect', () => {
        for (const c of chunks) socket.write(c);
        socket.end();
      });
      setTimeout(() => { socket.destroy(); reject(new Error('the server did not close the connection in time')); }, 4000).unref();
    });

    const SOCKET_RUNS = 300;
    const stream = fc.array(fc.oneof(
      // A follower's later lines are ignored by design: no follow here.
      requestLine.filter((l) => !l.includes('"follow":true')).map((l) => Buffer.from(`${l}\n`)),
      anyBytes(200),
      fc.constant(Buffer.from('\n')),
      fc.constant(Buffer.from([0xff, 0xfe, 0xc3, 0x0a])),
      fc.nat(100_000).map((n) => Buffer.alloc(n, 0x7b)),
    ), { maxLength: 12 });

    it(`any byte stream gets one answer per complete line (or a too_large refusal), and the server lives on (${runs(SOCKET_RUNS)} runs)`, { timeout: testTimeout(120_000, SOCKET_RUNS) }, async () => {
      const growth = await heapGrowth(() => fc.assert(fc.asyncProperty(stream, fc.array(fc.nat(), { maxLength: 6 }), async (parts, cuts) => {
        const data = Buffer.concat(parts);
        const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        const chunks = [...at, data.length].map((c, i, all) => data.subarray(i === 0 ? 0 : all[i - 1]!, c));
        const answers = (await exchange(chunks)).map((l) => JSON.parse(l) as { v: number; ok: boolean; error?: { code: string } });
        for (const a of answers) {
          assert.equal(a.v, 1);
          if (!a.ok) assert.ok(CODES.has(a.error!.code), a.error!.code);
        }
        // The lines as the server reads them: split on bytes, each decoded whole, "\r\n" ends one too.
        const sent: string[] = [];
        for (let start = 0; start <= data.length;) {
          const nl = data.indexOf(0x0a, start);
          const line = data.subarray(start, nl < 0 ? data.length : nl).toString('utf8').replace(/\r$/, '');
          if (line.trim() !== '') sent.push(line);
          start = nl < 0 ? data.length + 1 : nl + 1;
        }
        if (answers.some((a) => a.error?.code === 'too_large')) {
          assert.equal(answers.at(-1)!.error!.code, 'too_large');
          assert.ok(answers.length <= sent.length + 1);
        } else {
          // Every non-empty line answered, the unterminated last one too (the client half-closed).
          assert.equal(answers.length, sent.length, `${sent.length} lines, ${answers.length} answers`);
        }
      }), params(SOCKET_RUNS, 8000)));
      assert.ok(growth < HEAP_BOUND, `heap grew ${growth} bytes`);
      const r = await call(path, { cmd: 'status' });
      assert.equal(r.ok, true);
    });

    it('a control request of 70 KiB of "{" is refused as too large and the socket keeps serving', async () => {
      const answers = await exchange([Buffer.alloc(70 * 1024, 0x7b), Buffer.from('\n')]);
      assert.deepEqual(answers.map((l) => (JSON.parse(l) as { error: { code: string } }).error.code), ['too_large']);
      assert.equal((await call(path, { cmd: 'status' })).ok, true);
    });
  });
});
