// The Debian package, end to end on this machine: `npm run package` builds it from the tree,
// lintian finds no error, dpkg installs it, the commands, man pages, example config and unit work
// as installed, `dpkg -r` keeps the config and state and `dpkg -P` removes them. The machine is
// left as it was found: the package is purged at the end, also when a step fails.
// The unit is not started here: systemd is rarely PID 1 on a CI machine (the test says which it
// found); systemd-analyze verifies the installed unit offline instead.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needsRoot } from '../support/root.js';
import { repoPath } from '../support/repo.js';

const PACKAGE = 'ha-agent';
const version = (JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string }).version;

/** Runs a command; the result whatever the exit. */
function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', ...env }, timeout: 180_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', text: `${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}` };
}
const ok = (cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv) => {
  const r = run(cmd, args, env);
  assert.equal(r.code, 0, r.text);
  return r;
};
const installedVersion = (pkg: string): string | undefined => {
  const r = run('dpkg-query', ['-W', '-f', '${Status} ${Version}', pkg]);
  const m = /^install ok installed (\S+)$/.exec(r.stdout);
  return m?.[1];
};
const known = (pkg: string): boolean => run('dpkg-query', ['-W', pkg]).code === 0 && run('dpkg-query', ['-W', '-f', '${Status}', pkg]).stdout !== 'unknown ok not-installed';

describe('the Debian package', needsRoot(), () => {
  let deb = '';
  let work = '';
  /** A stand-in nodejs package this test installed (and removes), when node is not dpkg's. */
  let dummyNode = false;

  before(() => {
    // Never touch an installation of someone else's: this test installs and purges its own.
    assert.ok(!known(PACKAGE) && !existsSync('/etc/ha-agent') && !existsSync('/var/lib/ha-agent'),
      `${PACKAGE} is (or was) installed here (dpkg, /etc/ha-agent or /var/lib/ha-agent): the package test purges what it installs, so run it on a machine without one`);
    work = mkdtempSync(join(tmpdir(), 'ha-agent-deb-'));
  });

  after(() => {
    if (!work) return; // before() found an installation: nothing here is this test's
    if (known(PACKAGE)) run('dpkg', ['--purge', PACKAGE]);
    if (dummyNode) run('dpkg', ['--purge', 'nodejs']);
    // before() saw neither: whatever a failed step left there is this test's.
    for (const dir of ['/etc/ha-agent', '/var/lib/ha-agent']) rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('builds from the tree with npm run package', () => {
    const started = performance.now();
    const r = ok('npm', ['run', '-s', 'package']);
    deb = r.stdout.trim().split('\n').at(-1)!;
    const arch = ok('dpkg', ['--print-architecture']).stdout.trim();
    assert.equal(deb, `dist/ha-agent_${version}_${arch}.deb`);
    deb = repoPath(deb);
    console.log(`# built ${deb} in ${((performance.now() - started) / 1000).toFixed(1)} s: ${r.stderr.trim().split('\n').at(-1)}`);
    const fields = ok('dpkg-deb', ['-f', deb, 'Depends', 'Recommends', 'Suggests']).stdout;
    assert.match(fields, /^Depends: libc6 \(>= [\d.]+\), nodejs \(>= 20\), iptables \| nftables, conntrack, ipset$/m);
    assert.match(fields, /^Recommends: keepalived, conntrackd, monitoring-plugins-basic$/m);
    assert.match(fields, /^Suggests: redis-server, bird2$/m);
    const files = ok('dpkg-deb', ['-c', deb]).stdout;
    for (const path of ['./usr/bin/ha-agent', './usr/bin/agentctl', './lib/systemd/system/ha-agent.service', './etc/ha-agent/config.yaml',
      './usr/lib/ha-agent/dist/native/tcp_check.node', './usr/lib/ha-agent/node_modules/pino/package.json', './usr/share/man/man8/ha-agent.8.gz',
      './usr/share/man/man8/agentctl.8.gz', './usr/share/man/man5/ha-agent.yaml.5.gz', './usr/share/bash-completion/completions/ha-agent',
      './usr/lib/tmpfiles.d/ha-agent.conf', './usr/lib/modules-load.d/ha-agent.conf']) {
      assert.ok(files.includes(` ${path}`), `${path} is not in the package`);
    }
    assert.doesNotMatch(files, /node_modules\/typescript\/|dist\/test\/|\.map$/m, 'dev dependencies, tests or source maps were packaged');
  });

  it('lintian reports no error', () => {
    const r = run('lintian', ['--fail-on', 'error', '--suppress-tags', 'repeated-path-segment', '--pedantic', deb]);
    if (r.stdout.trim()) console.log(`# lintian:\n${r.stdout.trim().split('\n').map((l) => `#   ${l}`).join('\n')}`);
    assert.equal(r.code, 0, r.text);
    assert.doesNotMatch(r.stdout, /^E: /m, r.stdout);
  });

  it('installs with dpkg -i, its Depends satisfied', () => {
    const node = installedVersion('nodejs');
    if (node === undefined || run('dpkg', ['--compare-versions', node, 'ge', '20']).code !== 0) {
      // Node came from elsewhere (a tarball, nvm): say so, and stand in for the nodejs package
      // with an equivs-style one carrying this node's version, so the Depends check stays real.
      const nodeVersion = process.versions.node;
      console.log(`# nodejs is not a dpkg package >= 20 here (found ${node ?? 'none'}); installing a stand-in nodejs ${nodeVersion} for ${process.execPath}`);
      const dummy = join(work, 'nodejs-dummy');
      mkdirSync(join(dummy, 'DEBIAN'), { recursive: true });
      writeFileSync(join(dummy, 'DEBIAN', 'control'), `Package: nodejs\nVersion: ${nodeVersion}\nArchitecture: all\nMaintainer: ha-agent tests <ha-agent@users.noreply.github.com>\n` +
        `Description: stand-in for the Node.js at ${process.execPath}\n built by test/packaging/deb.test.ts; removed when it ends.\n`);
      ok('dpkg-deb', ['--root-owner-group', '--build', dummy, join(work, 'nodejs-dummy.deb')]);
      ok('dpkg', ['-i', join(work, 'nodejs-dummy.deb')]);
      dummyNode = true;
    }
    ok('dpkg', ['-i', deb]);
    assert.equal(installedVersion(PACKAGE), version);
    assert.equal(ok('dpkg-query', ['-W', '-f', '${Conffiles}', PACKAGE]).stdout.trim().split(/\s+/)[0], '/etc/ha-agent/config.yaml');
  });

  it('the installed commands, man pages and example config work', () => {
    assert.equal(ok('/usr/bin/ha-agent', ['--version']).stdout.trim(), version);
    assert.match(ok('/usr/bin/agentctl', ['--help']).stdout, /^Usage: agentctl/m);
    for (const [section, page, title] of [['8', 'ha-agent', 'HA-AGENT(8)'], ['8', 'agentctl', 'AGENTCTL(8)'], ['5', 'ha-agent.yaml', 'HA-AGENT.YAML(5)']] as const) {
      const r = ok('man', [section, page], { MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' });
      assert.ok(r.stdout.includes(title), `man ${section} ${page} shows no ${title}:\n${r.stdout.slice(0, 300)}`);
    }
    assert.match(ok('/usr/bin/ha-agent', ['check-config', '/etc/ha-agent/config.yaml']).stdout, /config\.yaml: ok \(node lb1, 0 farms/);
    const mode = ok('stat', ['-c', '%a %U %G', '/etc/ha-agent/config.yaml']).stdout.trim();
    assert.equal(mode, '640 root root');
    assert.ok(existsSync('/run/xtables.lock'), 'postinst did not create /run/xtables.lock through tmpfiles.d');
  });

  it('systemd-analyze verify accepts the installed unit (man pages and commands included)', () => {
    const pid1 = readFileSync('/proc/1/comm', 'utf8').trim();
    console.log(`# PID 1 is ${pid1}: ${pid1 === 'systemd' ? 'systemd runs here, but' : 'not systemd, so'} the unit is verified offline, not started`);
    const r = run('systemd-analyze', ['verify', '/lib/systemd/system/ha-agent.service']);
    assert.equal(r.code, 0, r.text);
    assert.equal(r.stderr.split('\n').filter((l) => l.includes('ha-agent')).join('\n'), '', r.stderr);
  });

  it('a reinstall (upgrade path) keeps a locally edited config', () => {
    appendFileSync('/etc/ha-agent/config.yaml', '# edited by the package test\n');
    ok('dpkg', ['-i', '--force-confold', deb]);
    assert.match(readFileSync('/etc/ha-agent/config.yaml', 'utf8'), /# edited by the package test\n$/);
  });

  it('dpkg -r keeps the config and the state; dpkg -P removes both', () => {
    assert.equal(installedVersion(PACKAGE), version, 'not installed: an earlier step failed');
    // What the agent keeps across restarts (engine/saver.ts writes it in node.state_dir).
    mkdirSync('/var/lib/ha-agent', { recursive: true });
    writeFileSync('/var/lib/ha-agent/state.json', '{}\n');
    ok('dpkg', ['-r', PACKAGE]);
    assert.ok(!existsSync('/usr/bin/ha-agent') && !existsSync('/usr/lib/ha-agent'), 'dpkg -r left the program');
    assert.match(readFileSync('/etc/ha-agent/config.yaml', 'utf8'), /# edited by the package test/);
    assert.ok(existsSync('/var/lib/ha-agent/state.json'), 'dpkg -r removed the state');
    ok('dpkg', ['-P', PACKAGE]);
    assert.ok(!existsSync('/etc/ha-agent'), 'dpkg -P left /etc/ha-agent');
    assert.ok(!existsSync('/var/lib/ha-agent'), 'dpkg -P left /var/lib/ha-agent');
    assert.equal(known(PACKAGE), false);
  });
});
