// Bad input to a real daemon: unknown names, bad verbs, garbage, oversized and half-sent
// requests, a user outside the socket's group, a bad reload, a second agent: clear errors, and
// the agent carries on unaffected.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { needsRoot } from '../support/root.js';
import { spawnAgent } from '../support/agent.js';
import { AgentLab, agentConfig } from './agent-lab.js';
import { rawConnect } from './raw.js';

type ErrorLine = { ok: false; error: { code: string; message: string } };

describe('the control socket of a daemon in a netns lab refuses bad input', needsRoot(), () => {
  let env: AgentLab;
  before(async () => {
    env = await AgentLab.create([1, 1]);
  });
  after(() => env?.destroy());

  const assertUnaffected = async () => {
    assert.equal(env.agent.exited, false, 'the agent is still running');
    const s = await env.status();
    assert.deepEqual(s.farms[0]!.backends.map((b) => [b.admin, b.in_chain]), [['enabled', true], ['enabled', true]]);
  };

  it('unknown farm or backend: exit 1 with a one-line error naming what exists', async () => {
    const farm = await env.ctl(['backend', 'nope', 'b1', 'drain']);
    assert.deepEqual([farm.exitCode, farm.stderr], [1, 'agentctl: unknown farm "nope" (farms: web)\n']);
    const backend = await env.ctl(['backend', 'web', 'b9', 'drain']);
    assert.deepEqual([backend.exitCode, backend.stderr], [1, 'agentctl: farm web has no backend "b9" (backends: b1, b2)\n']);
    await assertUnaffected();
  });

  it('a bad verb is bad usage (exit 2) and never reaches the agent', async () => {
    const r = await env.ctl(['backend', 'web', 'b1', 'pause']);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /expected enable, drain or maintenance/);
    await assertUnaffected();
  });

  it('garbage bytes get bad_json; an oversized request gets too_large and is dropped', async () => {
    const garbage = await rawConnect(env.dir.socket);
    garbage.socket.write(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x0a]));
    const [bad] = (await garbage.waitLines(1)) as ErrorLine[];
    assert.equal(bad!.error.code, 'bad_json');
    garbage.socket.write('{"v":1,"cmd":"backend","farm":"web","backend":"b1","admin":"off"}\n');
    const lines = (await garbage.waitLines(2)) as ErrorLine[];
    assert.equal(lines[1]!.error.code, 'bad_request');
    assert.match(lines[1]!.error.message, /admin: Invalid enum value/);
    garbage.socket.destroy();

    const big = await rawConnect(env.dir.socket);
    big.socket.write(`{"v":1,"cmd":"status","x":"${'A'.repeat(5 * 1024 * 1024)}"}\n`);
    await big.closed(3000);
    assert.equal((big.lines[0] as ErrorLine).error.code, 'too_large');
    await assertUnaffected();
  });

  it('a half-sent request times out while other clients are served', async () => {
    const slow = await rawConnect(env.dir.socket);
    slow.socket.write('{"v":1,"cmd":"backend","farm":"web",');
    await assertUnaffected(); // served while the slow request is pending
    await slow.closed(8000);
    const [line] = slow.lines as ErrorLine[];
    assert.equal(line!.error.code, 'timeout');
    assert.match(line!.error.message, /not completed within 5000 ms/);
    await assertUnaffected();
  });

  it('a user outside the socket\'s group cannot change anything', async () => {
    const s = await stat(env.dir.socket);
    assert.equal(s.mode & 0o777, 0o660);
    for (const args of [['backend', 'web', 'b1', 'maintenance'], ['status']]) {
      const r = await env.ctl(args, { user: 'nobody' });
      assert.equal(r.exitCode, 1);
      assert.match(r.stderr, /^agentctl: permission denied on .*agent\.sock: run agentctl as root or as a member of the socket's group \(control\.group\)\n$/);
    }
    await assertUnaffected();
  });

  it('reload: an invalid config prints its errors, exits 1 and keeps the running config', async () => {
    env.dir.write(agentConfig(env.dir, [1, 1]).replace('ip: 10.2.0.12', 'ip: 10.2.0.300').replace('weight: 1 }', 'weight: 0 }'));
    const bad = await env.ctl(['reload']);
    assert.equal(bad.exitCode, 1);
    const lines = bad.stderr.trimEnd().split('\n');
    assert.ok(lines.includes('farms[0].backends[1].ip: "10.2.0.300" is not an IPv4 address'), bad.stderr);
    assert.match(lines.at(-1)!, /^agentctl: .*config\.yaml has 2 errors; the running config is kept$/);
    await assertUnaffected();
    env.dir.write(agentConfig(env.dir, [1, 3]));
    const good = await env.ctl(['reload']);
    assert.deepEqual([good.exitCode, good.stdout], [0, 'config reloaded; 1 farm(s) re-applied: web\n']);
    assert.deepEqual((await env.status()).farms[0]!.backends.map((b) => b.share), [0.25, 0.75]);
  });

  it('a second agent never steals the live socket: it exits 1 before touching the kernel or the state', async () => {
    const mangle = async () => (await env.lab.exec('lb1', 'iptables-save', ['-t', 'mangle'])).stdout.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    const rules = await mangle();
    const state = await readFile(join(env.dir.dir, 'state', 'state.json'), 'utf8');
    const second = spawnAgent(env.lab, 'lb1', env.dir.configPath);
    const exit = await second.wait(15_000);
    assert.equal(exit.exitCode, 1);
    assert.ok(second.lines.some((l) => /another process answers on .*agent\.sock \(is ha-agent already running\?\); not taking over its socket/.test(l)),
      second.lines.join('\n'));
    assert.equal(second.lines.some((l) => l.includes('ha-agent running')), false, 'it never started its engine');
    assert.equal(await mangle(), rules);
    assert.equal(await readFile(join(env.dir.dir, 'state', 'state.json'), 'utf8'), state);
    assert.equal((await env.ctl(['status'])).exitCode, 0, 'the first agent still answers');
    assert.equal(env.agent.exited, false);
  });
});
