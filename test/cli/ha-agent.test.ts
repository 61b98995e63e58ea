// `ha-agent check-config` and `ha-agent run` as programs: what check-config accepts, run starts
// with; a value run cannot use (a cron text, a log level, a missing program) is refused by both
// up front, as `path: message` and exit 2, never as a stack trace or a daemon dying half-started.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { haAgentBin } from '../support/agent.js';
import { needsProgram, needsRoot } from '../support/root.js';

const STACK_FRAME = /^\s+at /m;
const CRON_LINE = 'dataplane.verify_schedule: "every tuesday" is not a cron schedule like "0 */5 * * * *" ' +
  '(second minute hour day-of-month month day-of-week; or five fields, without the second)';
const LEVEL_LINE = 'HA_AGENT_LOG_LEVEL: "bogus" is not a log level; use one of trace, debug, info, warn, error, fatal, silent';

describe('ha-agent check-config and run', () => {
  let dir = '';
  /** A config in its own directory (state, run dir, socket), with `extra` YAML and `check` as the farm's check. */
  const writeConfig = async (name: string, extra = '', check = '{ type: none }'): Promise<string> => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, `node: { id: lb1, state_dir: ${join(dir, name, 'state')}, run_dir: ${join(dir, name, 'run')} }
control: { socket: ${join(dir, name, 'run', 'agent.sock')} }
${extra}farms:
  - { name: app, vip: 192.0.2.10, ports: [80], check: ${check}, backends: [{ name: a0, ip: 10.0.0.1, port: 80 }] }
`);
    return file;
  };
  const checkConfig = (file: string, env: Record<string, string> = {}) =>
    execa(process.execPath, [haAgentBin, 'check-config', file], { reject: false, timeout: 20_000, env });
  // In a network namespace of its own: should run get past its checks, it touches only that namespace.
  const run = (file: string, env: Record<string, string> = {}) =>
    execa('unshare', ['--net', '--', process.execPath, haAgentBin, 'run', '--config', file], { reject: false, timeout: 15_000, env });

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'ha-agent-cli-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('check-config refuses a verify_schedule node-cron cannot read', async () => {
    const file = await writeConfig('cron', 'dataplane: { verify_schedule: "every tuesday" }\n');
    const r = await checkConfig(file);
    assert.equal(r.exitCode, 2, r.stdout);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, CRON_LINE);
  });

  it('run refuses the same verify_schedule with the same line, exit 2, before starting', needsRoot(), async () => {
    const file = await writeConfig('cron-run', 'dataplane: { verify_schedule: "every tuesday" }\n');
    const r = await run(file);
    assert.equal(r.timedOut, false, 'run must exit, not hang half-started');
    assert.equal(r.exitCode, 2, r.stderr);
    assert.equal(r.stderr, CRON_LINE);
    assert.equal(r.stdout, '', 'no daemon log: nothing was started');
  });

  it('run refuses HA_AGENT_LOG_LEVEL=bogus naming the variable and the levels, exit 2', needsRoot(), async () => {
    const file = await writeConfig('level-run');
    const r = await run(file, { HA_AGENT_LOG_LEVEL: 'bogus' });
    assert.equal(r.timedOut, false);
    assert.equal(r.exitCode, 2, r.stderr);
    assert.equal(r.stderr, LEVEL_LINE);
    assert.doesNotMatch(r.stderr, STACK_FRAME);
  });

  it('check-config refuses HA_AGENT_LOG_LEVEL=bogus too: run would', async () => {
    const r = await checkConfig(await writeConfig('level'), { HA_AGENT_LOG_LEVEL: 'bogus' });
    assert.equal(r.exitCode, 2, r.stdout);
    assert.equal(r.stderr, LEVEL_LINE);
  });

  it('check-config takes any case of a level, and an empty HA_AGENT_LOG_LEVEL as unset', async () => {
    const file = await writeConfig('level-ok');
    for (const level of ['debug', 'WARN', '']) {
      const r = await checkConfig(file, { HA_AGENT_LOG_LEVEL: level });
      assert.equal(r.exitCode, 0, `${JSON.stringify(level)}: ${r.stderr}`);
    }
  });

  it('check-config names an exec check program that is nowhere to be found', async () => {
    const file = await writeConfig('exec-missing', '', '{ type: exec, command: [check_nothing_here, -H, "{ip}"] }');
    const r = await checkConfig(file);
    assert.equal(r.exitCode, 2, r.stdout);
    assert.equal(r.stderr, 'farms[0].check.command[0]: "check_nothing_here" is not on PATH nor in /usr/lib/nagios/plugins');
  });

  it('check-config finds an exec check program on PATH, and one by relative path from the working directory', async () => {
    const bin = join(dir, 'bin');
    await execa('mkdir', ['-p', bin]);
    await writeFile(join(bin, 'check_here'), '#!/bin/sh\nexit 0\n');
    await chmod(join(bin, 'check_here'), 0o755);
    const onPath = await checkConfig(await writeConfig('exec-path', '', '{ type: exec, command: [check_here] }'), { PATH: `${bin}:${process.env.PATH}` });
    assert.equal(onPath.exitCode, 0, onPath.stderr);
    const relative = await execa(process.execPath, [haAgentBin, 'check-config', await writeConfig('exec-rel', '', '{ type: exec, command: [bin/check_here] }')],
      { reject: false, cwd: dir });
    assert.equal(relative.exitCode, 0, relative.stderr);
  });

  // The SPEC's example: Debian installs check_tcp in /usr/lib/nagios/plugins, not on PATH.
  it('check-config accepts the SPEC example [check_tcp, -H, "{ip}", -p, "{port}"]', needsProgram('/usr/lib/nagios/plugins/check_tcp'), async () => {
    const file = await writeConfig('exec-spec', '', '{ type: exec, command: [check_tcp, -H, "{ip}", -p, "{port}"] }');
    const r = await checkConfig(file, { PATH: '/usr/bin:/bin' });
    assert.equal(r.exitCode, 0, r.stderr);
  });

  it('under systemd (stderr is the journal) every error line carries the err priority, so journalctl -p err shows it', async () => {
    const file = await writeConfig('journal', 'dataplane: { verify_schedule: "every tuesday" }\n');
    const errPath = join(dir, 'journal.err');
    // The file itself as fd 2 (no pipe in between), as systemd hands the journal stream over.
    const handle = await open(errPath, 'w');
    try {
      const st = await handle.stat();
      const child = spawn(process.execPath, [haAgentBin, 'check-config', file], {
        env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` }, stdio: ['ignore', 'ignore', handle.fd],
      });
      const [code] = await once(child, 'exit');
      assert.equal(code, 2);
    } finally {
      await handle.close();
    }
    const lines = (await readFile(errPath, 'utf8')).split('\n').filter((l) => l !== '');
    assert.ok(lines.some((l) => l === `<3>${CRON_LINE}`), lines.join('\n'));
    assert.deepEqual(lines.filter((l) => !l.startsWith('<3>')), []);
  });
});
