// What a config asks of the machine it runs on: the programs it names exist there. Real files in a
// temporary directory; the search path is passed in, so the test does not depend on the host's PATH.

import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIssues, loadConfigFile, parseConfigText } from '../../config/load.js';
import { hostIssues } from '../../config/host.js';
import { findProgram, type ProgramSearch } from '../../config/program.js';
import { config, farm, vrrp } from './cases/yaml.js';

let dir = '';
const a = () => join(dir, 'a');
const b = () => join(dir, 'b');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ha-agent-host-'));
  await mkdir(a());
  await mkdir(b());
  const program = async (path: string, mode = 0o755) => {
    await writeFile(path, '#!/bin/sh\nexit 0\n');
    await chmod(path, mode);
  };
  await program(join(a(), 'both'));
  await program(join(b(), 'both'));
  await program(join(b(), 'only_b'));
  await program(join(a(), 'not_executable'), 0o644);
  await mkdir(join(a(), 'a_directory'));
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

describe('findProgram', () => {
  const search = (): ProgramSearch => ({ path: a(), then: [b()] });
  it('looks on PATH first, then in the extra directories', async () => {
    assert.equal(await findProgram('both', search()), join(a(), 'both'));
    assert.equal(await findProgram('only_b', search()), join(b(), 'only_b'));
    assert.equal(await findProgram('only_b', { path: a() }), undefined);
  });
  it('skips what is not an executable file', async () => {
    assert.equal(await findProgram('not_executable', search()), undefined);
    assert.equal(await findProgram('a_directory', search()), undefined);
  });
  it('takes a name with a slash as a path, relative to the working directory, and does not search for it', async () => {
    assert.equal(await findProgram(join(b(), 'only_b'), { path: '' }), join(b(), 'only_b'));
    assert.equal(await findProgram('b/only_b', { path: a(), cwd: dir }), join(dir, 'b', 'only_b'));
    assert.equal(await findProgram('./only_b', { path: b(), cwd: dir }), undefined);
  });
  it('ignores empty PATH entries rather than reading them as the working directory', async () => {
    assert.equal(await findProgram('only_b', { path: `:${a()}:`, cwd: b() }), undefined);
  });
});

describe('hostIssues', () => {
  const issues = async (yaml: string) => {
    const parsed = parseConfigText(yaml);
    assert.ok(parsed.ok, parsed.ok ? '' : formatIssues(parsed.issues));
    return formatIssues(await hostIssues(parsed.config, { path: a(), pluginDirs: [b()] })).split('\n').filter(Boolean);
  };
  const exec = (command: string) => farm({ check: `{ type: exec, command: ${command} }` });
  const cases: { name: string; yaml: () => string; errors: () => string[] }[] = [
    { name: 'a program on PATH', yaml: () => config([exec('[both]')]), errors: () => [] },
    { name: 'a program in the plugin directory', yaml: () => config([exec('[only_b, -H, "{ip}"]')]), errors: () => [] },
    { name: 'a program by absolute path', yaml: () => config([exec(`[${join(b(), 'only_b')}]`)]), errors: () => [] },
    { name: 'a program nowhere', yaml: () => config([exec('[check_nope]')]),
      errors: () => [`farms[0].check.command[0]: "check_nope" is not on PATH nor in ${b()}`] },
    { name: 'a path that is not executable', yaml: () => config([exec(`[${join(a(), 'not_executable')}]`)]),
      errors: () => [`farms[0].check.command[0]: "${join(a(), 'not_executable')}" is not an executable file`] },
    { name: 'each farm with a missing program', yaml: () => config([exec('[check_nope]'), farm({ name: 'web', vip: '192.0.2.11' }), farm({ name: 'db', vip: '192.0.2.12', check: '{ type: exec, command: [check_gone] }' })]),
      errors: () => [`farms[0].check.command[0]: "check_nope" is not on PATH nor in ${b()}`, `farms[2].check.command[0]: "check_gone" is not on PATH nor in ${b()}`] },
    { name: 'keepalived spawned by the agent is looked for on PATH only', yaml: () => config([farm()], vrrp({ keepalived: '{ binary: only_b }' })),
      errors: () => ['vrrp.keepalived.binary: "only_b" is not on PATH'] },
    { name: 'keepalived run by systemd is not the agent\'s to find', yaml: () => config([farm()], vrrp({ keepalived: '{ mode: systemd, binary: only_b }' })), errors: () => [] },
    { name: 'conntrackd, which the agent always drives', yaml: () => config([farm()], `${vrrp()}conntrackd: { interface: eth1, local_address: 10.0.9.1, peer_address: 10.0.9.2, mode: external, binary: nope }\n`),
      errors: () => ['vrrp.keepalived.binary: "keepalived" is not on PATH', 'conntrackd.binary: "nope" is not on PATH'] },
    { name: 'a control group this machine has', yaml: () => config([farm()], 'control: { group: root }\n'), errors: () => [] },
    { name: 'a control group given as a gid', yaml: () => config([farm()], 'control: { group: "4242" }\n'), errors: () => [] },
    { name: 'a control group this machine does not have', yaml: () => config([farm()], 'control: { group: no_such_group_here }\n'),
      errors: () => ['control.group: "no_such_group_here" is not a group in /etc/group'] },
  ];
  for (const c of cases) it(c.name, async () => assert.deepEqual(await issues(c.yaml()), c.errors()));
});

test('loadConfigFile finds a program through the search it is given', async () => {
  const file = join(dir, 'found.yaml');
  await writeFile(file, config([farm({ check: '{ type: exec, command: [only_b] }' })]));
  const result = await loadConfigFile(file, { path: a(), pluginDirs: [b()] });
  assert.ok(result.ok, result.ok ? '' : formatIssues(result.issues));
});

test('with the cluster\'s shared farms, the programs of those farms are looked for, not the file\'s own', async () => {
  const file = join(dir, 'shared.yaml');
  await writeFile(file, config([farm({ check: '{ type: exec, command: [missing_everywhere] }' })]));
  const search = { path: a(), pluginDirs: [b()] };
  assert.equal((await loadConfigFile(file, search)).ok, false, 'the file alone names a missing program');
  const parsedFarms = (raw: string) => (parseConfigText(raw) as unknown as { raw: { farms: unknown[] } }).raw.farms;
  const good = parsedFarms(config([farm({ check: '{ type: exec, command: [only_b] }' })]));
  const bad = parsedFarms(config([farm({ check: '{ type: exec, command: [missing_too] }' })]));
  const accepted = await loadConfigFile(file, search, good);
  assert.ok(accepted.ok, accepted.ok ? '' : formatIssues(accepted.issues));
  const refused = await loadConfigFile(file, search, bad);
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : formatIssues(refused.issues), /missing_too/);
});
