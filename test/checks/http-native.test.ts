// The native http check engine (dist/native/http_check.node): its results against servers on
// loopback, aborts by token, no fd left behind, and the JavaScript fallback when it is not
// built or not wanted. In CI the addon must be built.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { httpProbe } from '../../checks/http.js';
import { HTTP_CHECK_ADDON, loadHttpCheckAddon } from '../../checks/http-native.js';
import type { CheckTarget } from '../../checks/types.js';
import { checkSchema } from '../../config/schema.js';
import { blackholePort, closedPort, sleep } from './servers.js';

const run = promisify(execFile);
const target = (port: number): CheckTarget => ({ farm: 'app', backend: 'app0', ip: '127.0.0.1', port });
const check = checkSchema.parse({ type: 'http', path: '/' });
if (check.type !== 'http') throw new Error('not an http check');

/** Answers every connection with `answer` and closes. */
async function answering(answer: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const child = (script: string, env: NodeJS.ProcessEnv = process.env) =>
  run(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, env });

describe('native http check engine (dist/native/http_check.node)', () => {
  const load = loadHttpCheckAddon();
  const options = load.addon || process.env.CI ? {} : { skip: `skipped: ${load.error}` };

  it('reports a missing or foreign addon by path instead of throwing', () => {
    assert.match(loadHttpCheckAddon('/nonexistent/http_check.node').error ?? '', /\/nonexistent\/http_check\.node is not built/);
    assert.match(loadHttpCheckAddon(new URL('../../checks/http.js', import.meta.url).pathname).error ?? '', /is not the http check engine/);
  });

  it('answers status, CLOSED, MALFORMED and -errno; refuses bad arguments; aborts by token only', options, async () => {
    const ok = await answering('HTTP/1.1 503 Busy\r\n\r\n');
    const early = await answering('HTTP/1.1 2');
    const ssh = await answering('SSH-2.0-x\r\n');
    const refused = await closedPort();
    const blackhole = await blackholePort();
    try {
      const { stdout } = await child(`
        import { createRequire } from 'node:module';
        const addon = createRequire(import.meta.url)(${JSON.stringify(HTTP_CHECK_ADDON)});
        const until = async (cond) => { const end = Date.now() + 5000; while (!cond()) { if (Date.now() > end) throw new Error('waited too long'); await new Promise((r) => setTimeout(r, 5)); } };
        const req = Buffer.from('GET / HTTP/1.1\\r\\nhost: x\\r\\nconnection: close\\r\\n\\r\\n');
        const early = addon.start('127.0.0.1', ${ok.port}, req);
        const results = new Float64Array(2 * addon.BATCH);
        const seen = new Map();
        const init = [addon.init(() => undefined, new Float64Array(4)), addon.init((n) => { for (let i = 0; i < n; i++) seen.set(results[2 * i], results[2 * i + 1]); }, results), addon.init(() => undefined, results)];
        const bad = [addon.start('127.0.0.1', ${ok.port}, 'text'), addon.start('127.0.0.1', ${ok.port}, new Uint8Array(0)),
          addon.start('127.0.0.1', ${ok.port}, new Uint8Array(addon.MAX_REQUEST + 1)), addon.start('not-an-ip', 80, req), addon.start('127.0.0.1', 0, req)];
        const tokens = [${ok.port}, ${early.port}, ${ssh.port}, ${refused}].map((port) => addon.start('127.0.0.1', port, req));
        await until(() => seen.size === 4);
        const hanging = addon.start('127.0.0.1', ${blackhole.port}, req);
        const inflight = addon.inflight();
        const aborts = [addon.abort(hanging), addon.abort(hanging), addon.abort(tokens[0]), addon.abort(12345)];
        console.log(JSON.stringify({ early, init, bad, got: tokens.map((t) => seen.get(t)), CLOSED: addon.CLOSED, MALFORMED: addon.MALFORMED, inflight, aborts, after: addon.inflight() }));`);
      const out = JSON.parse(stdout) as Record<string, unknown> & { CLOSED: number; MALFORMED: number };
      assert.equal(out.early, -107, 'ENOTCONN before init');
      assert.deepEqual(out.init, [-22, 0, -114]);
      assert.deepEqual(out.bad, [-22, -22, -22, -22, -22]);
      assert.deepEqual(out.got, [503, out.CLOSED, out.MALFORMED, -111]);
      assert.deepEqual([out.inflight, out.aborts, out.after], [1, [0, -2, -2, -2], 0]);
    } finally {
      await Promise.all([ok.close(), early.close(), ssh.close(), blackhole.close()]);
    }
  });

  it('leaves no fd open and nothing in flight after 1000 checks, timeouts and aborts', options, async () => {
    const server = await answering('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const blackhole = await blackholePort();
    const probe = httpProbe(check);
    const fds = () => readdirSync('/proc/self/fd').length;
    try {
      assert.equal((await probe(target(server.port), 1000)).ok, true); // the engine's own fds exist from here on
      const before = fds();
      const ok = Promise.all(Array.from({ length: 1000 }, () => probe(target(server.port), 3000)));
      const timedOut = Promise.all(Array.from({ length: 20 }, () => probe(target(blackhole.port), 200)));
      const controller = new AbortController();
      const aborted = Promise.all(Array.from({ length: 5 }, () => probe(target(blackhole.port), 5000, controller.signal)));
      setTimeout(() => controller.abort(), 50);
      assert.deepEqual((await ok).filter((r) => !r.ok), []);
      assert.ok((await timedOut).every((r) => r.message.endsWith('timed out after 200 ms')));
      assert.ok((await aborted).every((r) => r.message.endsWith(': aborted')));
      assert.equal(load.addon!.inflight(), 0);
      // The server's side of the first check may still have been open when `before` was read.
      const settled = Date.now() + 1000;
      while (fds() > before && Date.now() < settled) await sleep(20);
      assert.ok(fds() <= before, `${fds()} fds open, ${before} before`);
    } finally {
      await blackhole.close();
      await server.close();
    }
  });

  it('HA_AGENT_HTTP_PROBE=net forces JavaScript; a bad value is named in a warning, not obeyed', options, async () => {
    const script = `
      const { httpConnectorMode, httpProbeWarnings } = await import(${JSON.stringify(new URL('../../checks/http.js', import.meta.url).href)});
      console.log(JSON.stringify({ mode: httpConnectorMode('http'), warnings: httpProbeWarnings() }));`;
    assert.deepEqual(JSON.parse((await child(script, { ...process.env, HA_AGENT_HTTP_PROBE: 'net' })).stdout), { mode: 'net', warnings: [] });
    assert.deepEqual(JSON.parse((await child(script, { ...process.env, HA_AGENT_HTTP_PROBE: 'turbo' })).stdout),
      { mode: 'native', warnings: ['HA_AGENT_HTTP_PROBE="turbo" is not one of native, net; using native'] });
  });

  it('without the engine built, http checks run in JavaScript with the same verdict, and the warning says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ha-agent-nonative-http-'));
    const server = await answering('HTTP/1.1 200 OK\r\n\r\n');
    try {
      cpSync(new URL('../../checks', import.meta.url).pathname, join(dir, 'checks'), { recursive: true });
      cpSync(new URL('../../config', import.meta.url).pathname, join(dir, 'config'), { recursive: true });
      const { stdout } = await child(`
        const { httpConnectorMode, httpProbe, httpProbeWarnings } = await import(${JSON.stringify(join(dir, 'checks/http.js'))});
        const check = { type: 'http', method: 'GET', path: '/', expect_status: [{ from: 200, to: 399 }], tls: { verify: false } };
        const r = await httpProbe(check)({ farm: 'f', backend: 'b', ip: '127.0.0.1', port: ${server.port} }, 1000);
        console.log(JSON.stringify({ mode: httpConnectorMode('http'), warnings: httpProbeWarnings(), message: r.message }));`);
      const out = JSON.parse(stdout) as { mode: string; warnings: string[]; message: string };
      assert.equal(out.mode, 'net');
      assert.equal(out.message, `HTTP GET http://127.0.0.1:${server.port}/: status 200`);
      assert.equal(out.warnings.length, 1);
      assert.match(out.warnings[0]!, /^http checks run in JavaScript: .*\/native\/http_check\.node is not built \(native\/build\.sh\)$/);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
