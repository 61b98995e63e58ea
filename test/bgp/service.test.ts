// The BGP service over a scripted runner and a stand-in BIRD (a real `sleep`, since the
// supervisor needs a process): include files follow the plan and drain, BIRD is told of each
// change and of nothing else, a BIRD that dies is started again and counted, and the two ways
// to stop.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../config/load.js';
import { startBgp } from '../../agent/bgp/service.js';
import { staticPlan } from '../../agent/plan/static.js';
import { FakeRunner } from '../../agent/apply/runner.fake.js';
import { createLogger } from '../../agent/log.js';

const settle = () => new Promise((resolve) => setTimeout(resolve, 50));
/** Waits for `done` (the service writes files and runs birdc off the event that asked), bounded. */
async function until(done: () => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!done()) {
    if (Date.now() - t0 > 5000) assert.fail(`not within 5 s: ${what}`);
    await settle();
  }
}

test('spawn mode: files, announcements, drain, stop', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-agent-bgp-'));
  const result = parseConfigText(`node: { id: lb1, run_dir: ${dir} }
farms:
  - { name: web, vip: 10.60.0.100, ports: [80], algorithm: hash-5tuple, backends: [{ name: w0, ip: 10.0.0.1, port: 80 }] }
  - { name: dns, vip: 10.60.0.53, ports: [53], protocol: udp, backends: [{ name: n0, ip: 10.0.0.2, port: 53 }] }
bgp: { asn: 65001, peers: [{ address: 10.51.0.1, asn: 65000 }] }
`);
  assert.ok(result.ok);
  const config = result.config;
  const down = new Set<string>();
  const listeners: (() => void)[] = [];
  const runner = new FakeRunner((call) => (call.args.includes('get') ? { stdout: '[{"dst":"10.51.0.1","prefsrc":"10.51.0.11"}]' } : undefined));
  const spawned: string[][] = [];
  const children: ChildProcess[] = [];
  const bgp = await startBgp({
    config: { config: () => config },
    events: { on: (l) => { listeners.push(l as () => void); return () => listeners.splice(listeners.indexOf(l as () => void), 1); } },
    desired: () => staticPlan(config, down),
    logger: createLogger('silent'),
  }, runner, (command, args) => {
    spawned.push([command, ...args]);
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    return child;
  });
  let stopped = false;
  try {
    const birdcCalls = () => runner.calls.filter((c) => c.command === 'birdc' && c.args.at(-1) === 'configure').length;
    assert.deepEqual(bgp.announced(), ['10.60.0.100/32', '10.60.0.53/32']);
    assert.match(readFileSync(join(dir, 'bird.conf'), 'utf8'), /router id 10\.51\.0\.11;/, 'router id from the route to the first peer');
    assert.deepEqual(spawned, [['bird', '-f', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')]]);
    assert.match(readFileSync(join(dir, 'bird-vips4.conf'), 'utf8'), /route 10\.60\.0\.53\/32 recursive 192\.0\.0\.9;/);
    assert.equal(birdcCalls(), 0, 'BIRD reads its first config itself');

    // A farm with nothing usable: its VIP is withdrawn, BIRD told once.
    down.add('dns/n0');
    listeners.forEach((l) => l());
    listeners.forEach((l) => l());
    await until(() => birdcCalls() > 0, 'BIRD told of the withdrawal');
    await settle();
    assert.deepEqual(bgp.announced(), ['10.60.0.100/32']);
    assert.doesNotMatch(readFileSync(join(dir, 'bird-vips4.conf'), 'utf8'), /10\.60\.0\.53/);
    assert.equal(birdcCalls(), 1);
    assert.deepEqual(runner.calls.find((c) => c.command === 'birdc' && c.args.at(-1) === 'configure')!.args, ['-s', join(dir, 'bird.ctl'), 'configure']);

    // An event that changes nothing tells BIRD nothing.
    listeners.forEach((l) => l());
    await settle();
    assert.equal(birdcCalls(), 1);

    await bgp.setDrained(true);
    assert.deepEqual(bgp.announced(), []);
    assert.equal(readFileSync(join(dir, 'bird-vips4.conf'), 'utf8').split('\n').filter((l) => l.startsWith('route')).length, 0);
    await bgp.setDrained(false);
    assert.deepEqual(bgp.announced(), ['10.60.0.100/32']);
    assert.equal(birdcCalls(), 3);

    // BIRD dying is noticed, counted (status, metrics) and BIRD started again after the backoff.
    assert.equal(bgp.status().speaker_restarts, 0);
    children[0]!.kill();
    await until(() => spawned.length === 2, 'BIRD started again');
    assert.equal(bgp.status().speaker_restarts, 1);

    // A clean stop keeps the announcements: the liveness prefix made permanent.
    await bgp.stop('keep');
    stopped = true;
    assert.match(runner.calls.at(-1)!.input ?? '', /valid_lft forever/);
  } finally {
    // A failed assertion must not leave the service's timers holding the test process.
    if (!stopped) await bgp.stop('withdraw');
    // The stand-in BIRD outlives a clean stop, as BIRD does; the test ends it.
    children.forEach((c) => c.kill());
    rmSync(dir, { recursive: true, force: true });
  }
});
