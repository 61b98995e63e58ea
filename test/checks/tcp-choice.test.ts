// Which tcp connector runs: chosen on first use, never at import; the native engine when it
// loads and starts, else net.Socket with the reason in the start-up warning; and native/build.sh
// skipping the engine (no compiler, not Linux) without failing the build.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createTcpDirect, promiseProbe } from '../../checks/tcp.js';
import { loadTcpCheckAddon, type AddonLoad } from '../../checks/tcp-native.js';
import { fakeAddon } from '../../checks/tcp-native.fake.js';
import type { CheckResult, CheckTarget } from '../../checks/types.js';
import { closedPort } from './servers.js';

const run = promisify(execFile);
const target = (ip: string, port: number): CheckTarget => ({ farm: 'app', backend: 'app0', ip, port });

/** A loader that counts its calls. */
function counted(load: () => AddonLoad) {
  const calls = { n: 0 };
  return { calls, load: () => (calls.n++, load()) };
}

describe('tcp connector choice', () => {
  it('opens nothing when made; the first look at the mode (or the first probe) loads the engine, once', () => {
    const { addon } = fakeAddon();
    const { calls, load } = counted(() => ({ addon }));
    const direct = createTcpDirect('half-open', load);
    assert.equal(calls.n, 0);
    assert.equal(direct.mode, 'half-open');
    assert.equal(direct.fallback, undefined);
    assert.equal(direct.mode, 'half-open');
    assert.equal(calls.n, 1);
    const lazy = counted(() => ({ addon: fakeAddon().addon }));
    const other = createTcpDirect('half-open', lazy.load);
    other.cancel(other.start(target('10.0.0.1', 80), 1000, undefined, () => undefined));
    assert.equal(lazy.calls.n, 1);
  });

  it('net mode never loads the engine', async () => {
    const { calls, load } = counted(() => assert.fail('not to be loaded'));
    const direct = createTcpDirect('net', load);
    const port = await closedPort();
    const result = await promiseProbe(direct)(target('127.0.0.1', port), 1000);
    assert.equal(result.message, `TCP connect to 127.0.0.1:${port}: ECONNREFUSED`);
    assert.deepEqual([direct.mode, direct.fallback, calls.n], ['net', undefined, 0]);
  });

  const fallbacks: Array<[string, () => AddonLoad, RegExp]> = [
    ['is not built', () => ({ error: '/x/tcp_check.node is not built (native/build.sh)' }), /^\/x\/tcp_check\.node is not built/],
    ['fails to initialise', () => ({ addon: { ...fakeAddon().addon, init: () => -24 } }), /^tcp check engine: init failed \(-24\)$/],
    ['meets a failing Node-API call in init', () => ({
      addon: { ...fakeAddon().addon, init: () => { throw new Error('tcp_check: napi_async_init(...) failed: boom (status 9)'); } },
    }), /^tcp_check: napi_async_init\(\.\.\.\) failed: boom/],
  ];
  for (const [name, load, reason] of fallbacks) {
    it(`falls back to net.Socket when the engine ${name}, and says why`, async () => {
      const direct = createTcpDirect('half-open', load);
      assert.equal(direct.mode, 'net');
      assert.match(direct.fallback ?? '', reason);
      const port = await closedPort();
      assert.equal((await promiseProbe(direct)(target('127.0.0.1', port), 1000)).message, `TCP connect to 127.0.0.1:${port}: ECONNREFUSED`);
    });
  }

  it('a timeout aborts by the token the engine gave, and a check the engine ended is not aborted', async () => {
    const fake = fakeAddon();
    const direct = createTcpDirect('half-open', () => ({ addon: fake.addon }));
    const outcomes: CheckResult[] = [];
    direct.start(target('10.0.0.1', 80), 30, undefined, (_t, r) => outcomes.push(r));
    const [hung] = fake.open;
    direct.start(target('10.0.0.2', 80), 30, undefined, (_t, r) => outcomes.push(r));
    const answered = [...fake.open].find((t) => t !== hung)!;
    fake.finish([[answered, -111]]);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.deepEqual(outcomes.map((r) => r.message), ['TCP connect to 10.0.0.2:80: ECONNREFUSED', 'TCP connect to 10.0.0.1:80: timed out after 30 ms']);
    assert.deepEqual(fake.aborted, [hung]);
    assert.equal(fake.open.size, 0);
  });

  it('hands the engine only numeric addresses and ports; the rest goes to net.Socket', async () => {
    const fake = fakeAddon();
    const probe = promiseProbe(createTcpDirect('half-open', () => ({ addon: fake.addon })));
    const result = await probe(target('127.0.0.1', 70000), 1000);
    assert.match(result.message, /^TCP connect to 127\.0\.0\.1:70000: /);
    assert.equal(result.ok, false);
    const port = await closedPort();
    assert.equal((await probe(target('localhost', port), 1000)).message, `TCP connect to localhost:${port}: ECONNREFUSED`);
    assert.equal(fake.open.size + fake.aborted.length, 0);
  });

  const child = (script: string) => run(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 });
  const built = loadTcpCheckAddon();
  const options = built.addon || process.env.CI ? {} : { skip: `skipped: ${built.error}` };

  it('importing the agent\'s probes maps no engine and opens no epoll set; the first probe does', options, async () => {
    const port = await closedPort();
    const { stdout } = await child(`
      import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
      const mapped = () => readFileSync('/proc/self/maps', 'utf8').includes('tcp_check.node');
      const link = (fd) => { try { return readlinkSync('/proc/self/fd/' + fd); } catch { return ''; } };
      const epolls = () => readdirSync('/proc/self/fd').filter((fd) => link(fd) === 'anon_inode:[eventpoll]').length;
      const start = epolls();
      await import(${JSON.stringify(new URL('../../checks/probe.js', import.meta.url).href)});
      const { tcpProbe, tcpDirect } = await import(${JSON.stringify(new URL('../../checks/tcp.js', import.meta.url).href)});
      const imported = { mapped: mapped(), epolls: epolls() - start };
      const r = await tcpProbe({ farm: 'f', backend: 'b', ip: '127.0.0.1', port: ${port} }, 1000);
      console.log(JSON.stringify({ imported, probed: { mapped: mapped(), epolls: epolls() - start, mode: tcpDirect.mode }, message: r.message }));`);
    assert.deepEqual(JSON.parse(stdout), {
      imported: { mapped: false, epolls: 0 },
      probed: { mapped: true, epolls: 1, mode: 'half-open' },
      message: `TCP connect to 127.0.0.1:${port}: ECONNREFUSED`,
    });
  });
});

describe('native/build.sh without what the engine needs', () => {
  /** A copy of native/ to build in, with an engine an earlier build left behind. */
  function tree(): string {
    const dir = mkdtempSync(join(tmpdir(), 'ha-agent-build-'));
    cpSync(new URL('../../../native', import.meta.url).pathname, join(dir, 'native'), { recursive: true });
    mkdirSync(join(dir, 'dist/native'), { recursive: true });
    writeFileSync(join(dir, 'dist/native/tcp_check.node'), 'stale');
    return dir;
  }
  const build = (dir: string, env: NodeJS.ProcessEnv) => run('bash', [join(dir, 'native/build.sh')], { env: { ...process.env, ...env }, timeout: 60_000 });

  it('without a C compiler: succeeds, says so, and leaves no engine behind', async () => {
    const dir = tree();
    try {
      const { stderr } = await build(dir, { CC: 'no-such-cc' });
      assert.match(stderr, /^build: no C compiler \(no-such-cc\): tcp checks will run in JavaScript/);
      assert.equal(existsSync(join(dir, 'dist/native/tcp_check.node')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('on a system other than Linux: succeeds, says so, and leaves no engine behind', async () => {
    const dir = tree();
    try {
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'uname'), '#!/bin/sh\necho Darwin\n');
      chmodSync(join(bin, 'uname'), 0o755);
      const { stderr } = await build(dir, { PATH: `${bin}:${process.env.PATH ?? ''}` });
      assert.match(stderr, /^build: the tcp check engine needs Linux, this is Darwin: tcp checks will run in JavaScript/);
      assert.equal(existsSync(join(dir, 'dist/native/tcp_check.node')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
