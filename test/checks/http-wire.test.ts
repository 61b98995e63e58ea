// The http probe against servers that misbehave on the wire (raw sockets, not Node's http
// server): truncated and malformed status lines, answers split one byte per packet, oversized
// headers, servers that never answer or close early, bodies framed every way. Each case runs
// through both connectors (the native engine and net.Socket) and must give the same verdict.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { httpConnectorMode, httpProbe, type HttpMode } from '../../checks/http.js';
import { CLOSED_EARLY, MALFORMED_STATUS } from '../../checks/http-connector.js';
import { loadHttpCheckAddon } from '../../checks/http-native.js';
import type { CheckTarget } from '../../checks/types.js';
import { checkSchema } from '../../config/schema.js';
import { sleep } from './servers.js';

const target = (port: number): CheckTarget => ({ farm: 'app', backend: 'app0', ip: '127.0.0.1', port });
const probe = (raw: Record<string, unknown>, mode: HttpMode) => {
  const check = checkSchema.parse({ type: 'http', ...raw });
  if (check.type !== 'http') throw new Error('not an http check');
  return httpProbe(check, { mode });
};

type Reply = (socket: net.Socket, request: string) => void | Promise<void>;

/** A raw TCP server: each connection's request head is read, then `reply` does what it likes. */
async function rawServer(reply: Reply): Promise<{ port: number; requests: string[]; closes: string[]; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const requests: string[] = [];
  const closes: string[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let head = '';
    let replied = false;
    socket.on('error', (err: NodeJS.ErrnoException) => closes.push(err.code ?? 'error'));
    socket.on('close', () => sockets.delete(socket));
    socket.on('end', () => closes.push('FIN'));
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (replied || !head.includes('\r\n\r\n')) return;
      replied = true;
      requests.push(head);
      void reply(socket, head);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    closes,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Writes `text` one byte per packet (Nagle off, a pause between writes). */
async function trickle(socket: net.Socket, text: string): Promise<void> {
  for (const byte of Buffer.from(text, 'latin1')) {
    if (socket.destroyed) return;
    socket.write(Buffer.of(byte));
    await sleep(2);
  }
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello';

const modes: HttpMode[] = ['native', 'net'];
const native = loadHttpCheckAddon();
// In CI the build must have produced the engine (test/scripts/setup.sh installs gcc).
const nativeOptions = native.addon || process.env.CI ? {} : { skip: `skipped: ${native.error}` };

describe('http probe on the wire', () => {
  it('uses the native engine for plain http checks', nativeOptions, () => {
    assert.equal(httpConnectorMode('http'), 'native');
    assert.equal(httpConnectorMode('https'), 'net');
  });

  for (const mode of modes) {
    describe(`${mode} connector`, () => {
      const options = mode === 'native' ? nativeOptions : {};
      const cases: Array<{ name: string; reply: Reply; ok: boolean; message: string | RegExp; check?: Record<string, unknown>; timeout?: number }> = [
        { name: 'a status line cut short, then the end', reply: (s) => void s.end('HTTP/1.1 20'), ok: false, message: CLOSED_EARLY },
        { name: 'a whole status line without its line end, then the end', reply: (s) => void s.end('HTTP/1.1 200 OK'), ok: false, message: CLOSED_EARLY },
        { name: 'a status line that is not HTTP', reply: (s) => void s.end('SSH-2.0-OpenSSH_9.2\r\n'), ok: false, message: MALFORMED_STATUS },
        { name: 'a four-digit status', reply: (s) => void s.end('HTTP/1.1 2000 OK\r\n\r\n'), ok: false, message: MALFORMED_STATUS },
        { name: 'a status line longer than 1 KiB', reply: (s) => void s.end(`HTTP/1.1 200 ${'x'.repeat(2000)}\r\n\r\n`), ok: false, message: MALFORMED_STATUS },
        { name: 'a status line without a reason', reply: (s) => void s.end('HTTP/1.0 204\r\n\r\n'), ok: true, message: 'status 204' },
        { name: 'an answer split one byte per packet', reply: (s) => trickle(s, OK), ok: true, message: 'status 200' },
        { name: 'a 500 split one byte per packet', reply: (s) => trickle(s, 'HTTP/1.1 500 Oops\r\n\r\n'), ok: false, message: 'status 500 not in 200-399' },
        {
          name: 'headers larger than any parser allows, when only the status counts',
          reply: (s) => void s.end(`HTTP/1.1 200 OK\r\nX-Big: ${'y'.repeat(40_000)}\r\n\r\nhello`), ok: true, message: 'status 200',
        },
        { name: 'a server that never answers', reply: () => undefined, ok: false, message: 'timed out after 300 ms', timeout: 300 },
        { name: 'a server that answers after the timeout', reply: async (s) => { await sleep(500); s.end(OK); }, ok: false, message: 'timed out after 300 ms', timeout: 300 },
        { name: 'a slow answer within the timeout', reply: async (s) => { await sleep(150); await trickle(s, OK); }, ok: true, message: 'status 200' },
        { name: 'a server that closes without answering', reply: (s) => void s.end(), ok: false, message: CLOSED_EARLY },
        { name: 'a server that resets', reply: (s) => void s.resetAndDestroy(), ok: false, message: /^(ECONNRESET|closed before a complete status line)$/ },
      ];
      for (const c of cases) {
        it(c.name, options, async () => {
          const server = await rawServer(c.reply);
          try {
            const result = await probe({ path: '/health', ...c.check }, mode)(target(server.port), c.timeout ?? 2000);
            const prefix = `HTTP GET http://127.0.0.1:${server.port}/health: `;
            assert.equal(result.ok, c.ok, result.message);
            if (typeof c.message === 'string') assert.equal(result.message, prefix + c.message);
            else assert.match(result.message.slice(prefix.length), c.message);
          } finally {
            await server.close();
          }
        });
      }

      it('sends one request: method, path, Host, Connection: close', options, async () => {
        const server = await rawServer((s) => void s.end(OK));
        try {
          assert.equal((await probe({ path: '/a?b=1', host: 'app.example' }, mode)(target(server.port), 2000)).ok, true);
          assert.equal((await probe({ method: 'POST' }, mode)(target(server.port), 2000)).ok, true);
          assert.deepEqual(server.requests, [
            'GET /a?b=1 HTTP/1.1\r\nhost: app.example\r\nuser-agent: ha-agent health check\r\naccept: */*\r\nconnection: close\r\n\r\n',
            `POST / HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\nuser-agent: ha-agent health check\r\naccept: */*\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
          ]);
        } finally {
          await server.close();
        }
      });

      it('resets a server that never answers at the timeout, leaving nothing open', options, async () => {
        const server = await rawServer(() => undefined);
        try {
          await probe({}, mode)(target(server.port), 200);
          const deadline = Date.now() + 2000;
          while (server.closes.length === 0 && Date.now() < deadline) await sleep(10);
          assert.deepEqual(server.closes, ['ECONNRESET']);
        } finally {
          await server.close();
        }
      });
    });
  }

  describe('bodies (the net connector reads them)', () => {
    const body = (reply: Reply, expect = 'hello', timeout = 2000) => async () => {
      const server = await rawServer(reply);
      try {
        const result = await probe({ path: '/', expect_body: expect }, 'native')(target(server.port), timeout);
        return result.message.slice(`HTTP GET http://127.0.0.1:${server.port}/: `.length) as string;
      } finally {
        await server.close();
      }
    };
    it('reads a body split one byte per packet', async () => {
      assert.equal(await body((s) => trickle(s, OK))(), 'status 200, body matches /hello/');
    });

    it('decodes a chunked body split one byte per packet, across chunks', async () => {
      const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n';
      assert.equal(await body((s) => trickle(s, chunked))(), 'status 200, body matches /hello/');
    });

    it('ends at Content-Length even when the server keeps the connection open', async () => {
      const started = performance.now();
      assert.equal(await body((s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'), 'hello', 1500)(), 'status 200, body matches /hello/');
      assert.ok(performance.now() - started < 1000);
    });

    it('reads to the end when no length is given', async () => {
      assert.equal(await body(async (s) => { s.write('HTTP/1.0 200 OK\r\n\r\nhel'); await sleep(20); s.end('lo'); })(), 'status 200, body matches /hello/');
    });

    it('is down when the body is cut short of its Content-Length', async () => {
      assert.equal(await body((s) => void s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello'))(), 'closed before the end of the body');
    });

    it('is down on headers larger than 16 KiB when the body is to be read', async () => {
      assert.equal(await body((s) => void s.end(`HTTP/1.1 200 OK\r\nX-Big: ${'y'.repeat(20_000)}\r\n\r\nhello`))(), 'headers larger than 16 KiB');
    });

    it('is down on a status line cut short, and on a server that never answers', async () => {
      assert.equal(await body((s) => void s.end('HTTP/1.1 2'))(), CLOSED_EARLY);
      assert.equal(await body(() => undefined, 'hello', 300)(), 'timed out after 300 ms');
    });

    it('reads the body when a body regex is set, whatever statuses are expected', async () => {
      const server = await rawServer((s) => void s.end('HTTP/1.1 503 Busy\r\nContent-Length: 5\r\n\r\nhello'));
      try {
        const result = await probe({ expect_status: [503], expect_body: 'hello' }, 'native')(target(server.port), 2000);
        assert.deepEqual([result.ok, result.message], [true, `HTTP GET http://127.0.0.1:${server.port}/: status 503, body matches /hello/`]);
      } finally {
        await server.close();
      }
    });

    it('does not read the body of a status that already failed', async () => {
      assert.equal(await body((s) => void s.write('HTTP/1.1 503 Busy\r\nContent-Length: 1000\r\n\r\n'))(), 'status 503 not in 200-399');
    });
  });
});
