// HTTP(S) probe against local servers: status ranges, body regex, Host, timeouts, TLS options.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type http from 'node:http';
import type https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExecaRunner } from '../../agent/apply/runner.js';
import { BODY_LIMIT, formatStatusRanges, httpProbe, statusMatches } from '../../checks/http.js';
import type { CheckTarget } from '../../checks/types.js';
import { checkSchema } from '../../config/schema.js';
import { closedPort, httpServer, httpsServer, sleep, timeWaitCount, type Handler, type Listening } from './servers.js';

const target = (port: number): CheckTarget => ({ farm: 'app', backend: 'app0', ip: '127.0.0.1', port });
const probe = (raw: Record<string, unknown>) => {
  const check = checkSchema.parse(raw);
  if (check.type !== 'http' && check.type !== 'https') throw new Error('not an http check');
  return httpProbe(check);
};

const seen: { host?: string; method?: string; servername?: string } = {};
const app: Handler = (req, res) => {
  seen.host = req.headers.host;
  seen.method = req.method;
  seen.servername = (req.socket as { servername?: string }).servername;
  switch (req.url) {
    case '/health': return void res.end('status: all good\n');
    case '/fail': res.statusCode = 500; return void res.end('broken');
    case '/nocontent': res.statusCode = 204; return void res.end();
    case '/hang': return; // never answers
    case '/big': return void res.end(`${'x'.repeat(BODY_LIMIT)}MARKER`);
    case '/redirect': res.statusCode = 302; return void res.end();
    default: res.statusCode = 404; return void res.end();
  }
};

describe('httpProbe (http)', () => {
  let server: Listening<http.Server>;
  before(async () => {
    server = await httpServer(app);
  });
  after(() => server.close());
  const url = (path: string) => `HTTP GET http://127.0.0.1:${server.port}${path}`;

  it('is up on a status in the default 200-399', async () => {
    const result = await probe({ type: 'http', path: '/health' })(target(server.port), 1000);
    assert.deepEqual([result.ok, result.message], [true, `${url('/health')}: status 200`]);
    assert.equal((await probe({ type: 'http', path: '/redirect' })(target(server.port), 1000)).ok, true);
  });

  it('is down on 500, saying which statuses were expected', async () => {
    const result = await probe({ type: 'http', path: '/fail' })(target(server.port), 1000);
    assert.deepEqual([result.ok, result.message], [false, `${url('/fail')}: status 500 not in 200-399`]);
  });

  it('takes a list of statuses and ranges', async () => {
    const check = probe({ type: 'http', path: '/nocontent', expect_status: [200, '204-206'] });
    assert.equal((await check(target(server.port), 1000)).ok, true);
    const strict = await probe({ type: 'http', path: '/nocontent', expect_status: [200] })(target(server.port), 1000);
    assert.equal(strict.message, `${url('/nocontent')}: status 204 not in 200`);
  });

  it('matches the body against expect_body', async () => {
    const good = await probe({ type: 'http', path: '/health', expect_body: 'all good' })(target(server.port), 1000);
    assert.deepEqual([good.ok, good.message], [true, `${url('/health')}: status 200, body matches /all good/`]);
    const bad = await probe({ type: 'http', path: '/health', expect_body: '^OK$' })(target(server.port), 1000);
    assert.deepEqual([bad.ok, bad.message], [false, `${url('/health')}: status 200, body does not match /^OK$/`]);
  });

  it('reads no more than 64 KiB of body', async () => {
    const result = await probe({ type: 'http', path: '/big', expect_body: 'MARKER' })(target(server.port), 1000);
    assert.equal(result.ok, false);
    assert.equal(result.message, `${url('/big')}: status 200, body does not match /MARKER/ in the first 64 KiB`);
  });

  it('sends the method and the Host header (default ip:port)', async () => {
    await probe({ type: 'http', path: '/health', method: 'HEAD', host: 'app.example' })(target(server.port), 1000);
    assert.deepEqual([seen.method, seen.host], ['HEAD', 'app.example']);
    await probe({ type: 'http', path: '/health' })(target(server.port), 1000);
    assert.deepEqual([seen.method, seen.host], ['GET', `127.0.0.1:${server.port}`]);
  });

  it('aborts the request at the timeout', async () => {
    const started = performance.now();
    const result = await probe({ type: 'http', path: '/hang' })(target(server.port), 300);
    const elapsed = performance.now() - started;
    assert.deepEqual([result.ok, result.message], [false, `${url('/hang')}: timed out after 300 ms`]);
    assert.ok(elapsed >= 290 && elapsed < 500, `took ${elapsed} ms`);
  });

  it('is down with ECONNREFUSED when nothing listens', async () => {
    const port = await closedPort();
    const result = await probe({ type: 'http', path: '/health' })(target(port), 1000);
    assert.deepEqual([result.ok, result.message], [false, `HTTP GET http://127.0.0.1:${port}/health: ECONNREFUSED`]);
  });

  it('answers at once when aborted', async () => {
    const controller = new AbortController();
    const pending = probe({ type: 'http', path: '/hang' })(target(server.port), 5000, controller.signal);
    setTimeout(() => controller.abort(), 20);
    const result = await pending;
    assert.deepEqual([result.ok, result.message], [false, `${url('/hang')}: aborted`]);
  });

  it('leaves no TIME_WAIT on the prober side after 20 checks, with or without reading the body', async () => {
    const check = probe({ type: 'http', path: '/health' });
    const withBody = probe({ type: 'http', path: '/health', expect_body: 'good' });
    for (let i = 0; i < 10; i++) {
      assert.equal((await check(target(server.port), 1000)).ok, true);
      assert.equal((await withBody(target(server.port), 1000)).ok, true);
    }
    await sleep(100);
    // Reading to the end lets the server close first, so any TIME_WAIT is on its side.
    assert.equal(await timeWaitCount(server.port, 'client'), 0);
  });
});

describe('httpProbe (https)', () => {
  let dir: string;
  let server: Listening<https.Server>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ha-agent-https-'));
    const run = await new ExecaRunner().run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,DNS:app.example'], { timeoutMs: 10_000 });
    assert.equal(run.exitCode, 0, run.stderr);
    server = await httpsServer(app, await readFile(join(dir, 'key.pem'), 'utf8'), await readFile(join(dir, 'cert.pem'), 'utf8'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const url = (path: string) => `HTTPS GET https://127.0.0.1:${server.port}${path}`;

  it('does not verify the certificate by default', async () => {
    const result = await probe({ type: 'https', path: '/health', expect_body: 'good' })(target(server.port), 2000);
    assert.deepEqual([result.ok, result.message], [true, `${url('/health')}: status 200, body matches /good/`]);
  });

  it('is down on a self-signed certificate when verify is on', async () => {
    const result = await probe({ type: 'https', path: '/health', tls: { verify: true } })(target(server.port), 2000);
    assert.equal(result.ok, false);
    assert.match(result.message, new RegExp(`^${url('/health')}: self-signed certificate`));
  });

  it('verifies against a CA file, with SNI', async () => {
    const check = probe({ type: 'https', path: '/health', tls: { verify: true, ca: join(dir, 'cert.pem'), sni: 'localhost' } });
    const result = await check(target(server.port), 2000);
    assert.deepEqual([result.ok, result.message], [true, `${url('/health')}: status 200`]);
    assert.equal(seen.servername, 'localhost');
  });

  it('takes SNI from the Host header when no sni is set', async () => {
    const check = probe({ type: 'https', path: '/health', host: 'app.example:8443', tls: { verify: true, ca: join(dir, 'cert.pem') } });
    assert.equal((await check(target(server.port), 2000)).ok, true);
    assert.deepEqual([seen.servername, seen.host], ['app.example', 'app.example:8443']);
  });

  it('fails when the name does not match the certificate', async () => {
    const check = probe({ type: 'https', path: '/health', tls: { verify: true, ca: join(dir, 'cert.pem'), sni: 'other.example' } });
    const result = await check(target(server.port), 2000);
    assert.equal(result.ok, false);
    assert.match(result.message, /other\.example/);
  });

  it('says so when the CA file cannot be read', async () => {
    const result = await probe({ type: 'https', tls: { verify: true, ca: '/nonexistent/ca.pem' } })(target(server.port), 2000);
    assert.deepEqual([result.ok, result.message], [false, `${url('/')}: CA file /nonexistent/ca.pem: ENOENT`]);
  });

  it('aborts at the timeout', async () => {
    const result = await probe({ type: 'https', path: '/hang' })(target(server.port), 300);
    assert.deepEqual([result.ok, result.message], [false, `${url('/hang')}: timed out after 300 ms`]);
  });
});

describe('status ranges', () => {
  it('formats and matches', () => {
    const ranges = [{ from: 200, to: 299 }, { from: 302, to: 302 }];
    assert.equal(formatStatusRanges(ranges), '200-299,302');
    assert.deepEqual([199, 200, 299, 301, 302, 303].map((s) => statusMatches(s, ranges)), [false, true, true, false, true, false]);
  });
});
