// Exec probe: token substitution per argument, exit codes, timeouts, no shell, monitoring-plugins.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ExecaRunner } from '../../agent/apply/runner.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { EXEC_GRACE_MS, execProbe, firstLine, substituteTokens } from '../../checks/exec.js';
import type { CheckTarget } from '../../checks/types.js';
import { needsProgram } from '../support/root.js';
import { closedPort, httpServer, tcpServer, type Listening } from './servers.js';

// Compiled to dist/test/checks/: the fixtures stay in the source tree.
const fixture = (name: string): string => fileURLToPath(new URL(`../../../test/checks/fixtures/${name}`, import.meta.url));
const CHECK_TCP = '/usr/lib/nagios/plugins/check_tcp';
const CHECK_HTTP = '/usr/lib/nagios/plugins/check_http';
const runner = new ExecaRunner();
const target: CheckTarget = { farm: 'app', backend: 'app0', ip: '10.2.0.11', port: 8080 };

describe('substituteTokens', () => {
  const cases: Array<[string, string]> = [
    ['{ip}', '10.2.0.11'],
    ['--host={ip}:{port}', '--host=10.2.0.11:8080'],
    ['{farm}/{backend}', 'app/app0'],
    ['{ip}{ip}', '10.2.0.1110.2.0.11'],
    ['{unknown} {IP} {ip', '{unknown} {IP} {ip'],
    ['-p', '-p'],
  ];
  for (const [arg, want] of cases) it(`${arg} -> ${want}`, () => assert.equal(substituteTokens(arg, target), want));

  it('never substitutes inside a substituted value', () => {
    assert.equal(substituteTokens('{backend}-{ip}', { ...target, backend: '{ip}' }), '{ip}-10.2.0.11');
  });
});

describe('firstLine', () => {
  it('keeps the first non-empty line without Nagios perfdata', () => {
    assert.equal(firstLine('\nTCP OK - 0.000 second response time|time=0.000s;;;0.0\nmore\n'), 'TCP OK - 0.000 second response time');
    assert.equal(firstLine(''), '');
    assert.equal(firstLine('x'.repeat(300)).length, 203);
  });
});

describe('execProbe', () => {
  let server: Listening<net.Server>;
  let local: CheckTarget;
  before(async () => {
    server = await tcpServer();
    local = { farm: 'app', backend: 'app0', ip: '127.0.0.1', port: server.port };
  });
  after(() => server.close());

  it('passes the substituted arguments and keeps the first line as the message', async () => {
    const probe = execProbe([fixture('print-args'), '-H', '{ip}', '-p', '{port}', '{farm}/{backend}'], runner);
    const result = await probe(local, 2000);
    assert.deepEqual([result.ok, result.message], [true, `exec print-args: [-H][127.0.0.1][-p][${server.port}][app/app0]`]);
  });

  it('is down on a non-zero exit, with the code and the output', async () => {
    const down = await execProbe([fixture('exit-with'), '2', 'CRITICAL - backend said no'], runner)(local, 2000);
    assert.deepEqual([down.ok, down.message], [false, 'exec exit-with: exit 2: CRITICAL - backend said no']);
    const stderrOnly = await execProbe([fixture('exit-with'), '1', '', 'only on stderr'], runner)(local, 2000);
    assert.equal(stderrOnly.message, 'exec exit-with: exit 1: only on stderr');
    const silent = await execProbe([fixture('exit-with'), '3'], runner)(local, 2000);
    assert.equal(silent.message, 'exec exit-with: exit 3');
  });

  it('kills a hanging command at the timeout and counts it as a failure', async () => {
    const started = performance.now();
    const result = await execProbe([fixture('hang')], runner)(local, 500);
    const elapsed = performance.now() - started;
    assert.deepEqual([result.ok, result.message], [false, 'exec hang: timed out after 500 ms']);
    assert.ok(elapsed < 700, `took ${elapsed} ms`);
  });

  it('answers at the timeout even when a grandchild keeps the output open', async () => {
    const started = performance.now();
    const result = await execProbe([fixture('hang-child')], runner)(local, 300);
    const elapsed = performance.now() - started;
    assert.deepEqual([result.ok, result.message], [false, 'exec hang-child: timed out after 300 ms']);
    assert.ok(elapsed < 300 + EXEC_GRACE_MS + 100, `took ${elapsed} ms`);
  });

  it('is down when the program cannot be started', async () => {
    const result = await execProbe(['/nonexistent/check_thing', '{ip}'], runner)(local, 1000);
    assert.equal(result.ok, false);
    assert.match(result.message, /^exec check_thing: .*ENOENT/);
  });

  it('passes shell metacharacters literally and never interprets them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ha-agent-exec-'));
    try {
      const evil: CheckTarget = {
        farm: `a; touch ${dir}/semicolon`,
        backend: `$(touch ${dir}/subshell)\`touch ${dir}/backtick\``,
        ip: `127.0.0.1 && touch ${dir}/and > ${dir}/redirect`,
        port: 8080,
      };
      // One token per run: the message keeps only 200 characters.
      for (const token of ['ip', 'farm', 'backend'] as const) {
        const result = await execProbe([fixture('print-args'), `{${token}}`, '*'], runner)(evil, 2000);
        assert.equal(result.message, `exec print-args: [${evil[token]}][*]`);
      }
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('hands the runner an argument array, one argument per configured argument', async () => {
    const fake = new FakeRunner(() => ({ exitCode: 0, stdout: 'OK\n' }));
    const spaced: CheckTarget = { ...target, backend: 'a b | c' };
    const result = await execProbe(['check', '--name={backend}', '{port}'], fake)(spaced, 1000);
    assert.equal(result.message, 'exec check: OK');
    assert.deepEqual(fake.calls, [{ command: 'check', args: ['--name=a b | c', '8080'] }]);
  });

  it('reports a runner timeout as a timeout', async () => {
    const fake = new FakeRunner(() => ({ exitCode: -1, timedOut: true }));
    const result = await execProbe(['check_tcp'], fake)(target, 1000);
    assert.deepEqual([result.ok, result.message], [false, 'exec check_tcp: timed out after 1000 ms']);
  });

  it('rejects an empty command when built', () => {
    assert.throws(() => execProbe([], runner), /empty/);
  });

  // npm test installs monitoring-plugins-basic: in CI these run, never skip.
  it(`works with Debian's monitoring-plugins check_tcp`, needsProgram(CHECK_TCP), async () => {
    const command = [CHECK_TCP, '-H', '{ip}', '-p', '{port}'];
    const up = await execProbe(command, runner)(local, 2000);
    assert.equal(up.ok, true, up.message);
    assert.match(up.message, /^exec check_tcp: TCP OK - [\d.]+ second response time on 127\.0\.0\.1 port \d+$/);
    const port = await closedPort();
    const down = await execProbe(command, runner)({ ...local, port }, 2000);
    assert.deepEqual([down.ok, down.message], [false, `exec check_tcp: exit 2: connect to address 127.0.0.1 and port ${port}: Connection refused`]);
  });

  // The SPEC's example names check_tcp bare; Debian puts it in /usr/lib/nagios/plugins, not on PATH.
  it('finds a bare check_tcp in /usr/lib/nagios/plugins, the way check-config does', needsProgram(CHECK_TCP), async () => {
    assert.ok(!(process.env.PATH ?? '').split(':').includes('/usr/lib/nagios/plugins'), 'the test needs a PATH without the plugin directory');
    const up = await execProbe(['check_tcp', '-H', '{ip}', '-p', '{port}'], runner)(local, 2000);
    assert.equal(up.ok, true, up.message);
    assert.match(up.message, /^exec check_tcp: TCP OK - /);
  });

  it('looks for a bare name on PATH, then in the plugin directories it is given', async () => {
    const fixtures = fixture('.');
    const fromPlugins = await execProbe(['print-args', '{port}'], runner, { path: '/nonexistent', pluginDirs: [fixtures] })(local, 2000);
    assert.deepEqual([fromPlugins.ok, fromPlugins.message], [true, `exec print-args: [${server.port}]`]);
    const fake = new FakeRunner(() => ({ exitCode: 0, stdout: 'OK\n' }));
    await execProbe(['print-args'], fake, { path: fixtures, pluginDirs: ['/nonexistent'] })(local, 1000);
    assert.deepEqual(fake.calls.map((c) => c.command), [join(fixtures, 'print-args')]);
  });

  it('hands a name found nowhere to the runner as written, which reports it', async () => {
    const fake = new FakeRunner(() => ({ exitCode: -1, spawnError: 'spawn check_gone ENOENT' }));
    const result = await execProbe(['check_gone'], fake, { path: '/nonexistent', pluginDirs: [] })(local, 1000);
    assert.deepEqual([result.ok, result.message, fake.calls[0]?.command], [false, 'exec check_gone: spawn check_gone ENOENT', 'check_gone']);
  });

  it(`works with Debian's monitoring-plugins check_http: 200 is up, 500 is down with the plugin's reason`, needsProgram(CHECK_HTTP), async () => {
    const web = await httpServer((req, res) => {
      res.statusCode = req.url === '/broken' ? 500 : 200;
      res.end('ok');
    });
    try {
      const at = { ...local, port: web.port };
      const up = await execProbe([CHECK_HTTP, '-H', '{ip}', '-p', '{port}', '-u', '/'], runner)(at, 2000);
      assert.equal(up.ok, true, up.message);
      assert.match(up.message, /^exec check_http: HTTP OK: HTTP\/1\.1 200 OK - \d+ bytes in [\d.]+ second response time$/);
      const down = await execProbe([CHECK_HTTP, '-H', '{ip}', '-p', '{port}', '-u', '/broken'], runner)(at, 2000);
      assert.equal(down.ok, false);
      assert.match(down.message, /^exec check_http: exit 2: HTTP CRITICAL: HTTP\/1\.1 500 Internal Server Error/);
    } finally {
      await web.close();
    }
  });
});
