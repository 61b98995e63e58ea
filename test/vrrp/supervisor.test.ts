// The helper supervisor with real processes: backoff restarts, ordered stop with a SIGKILL fallback,
// and the parent-death signal that takes a helper down with a SIGKILLed agent.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { silentLogger } from '../../agent/log.js';
import { Supervisor, withParentDeathSignal } from '../../agent/vrrp/supervisor.js';
import { waitFor } from '../netns/poll.js';
import { alive } from '../support/process.js';

const node = process.execPath;

describe('Supervisor', () => {
  it('restarts a helper that dies, with a doubling delay', async () => {
    const starts: number[] = [];
    const sup = new Supervisor({
      name: 'crasher', command: node, args: ['-e', 'process.exit(3)'], logger: silentLogger,
      minBackoffMs: 50, maxBackoffMs: 400, beforeStart: async () => { starts.push(Date.now()); },
    });
    sup.start();
    await waitFor(() => starts.length >= 4, { timeoutMs: 5000, what: '4 starts' });
    await sup.stop();
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    assert.ok(gaps[1]! > gaps[0]! && gaps[2]! > gaps[1]!, `gaps ${gaps.join(', ')} ms should grow`);
    const count = starts.length;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(starts.length, count, 'no restart after stop()');
  });

  it('stop() SIGTERMs, and SIGKILLs a helper that ignores it after the grace', async () => {
    const sup = new Supervisor({ name: 'stubborn', command: node, args: ['-e', "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)"], logger: silentLogger });
    sup.start();
    await waitFor(() => sup.pid !== undefined, { timeoutMs: 3000, what: 'a pid' });
    const pid = sup.pid!;
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await sup.stop(300);
    assert.ok(Date.now() - started >= 250, 'waited for the grace');
    assert.equal(alive(pid), false);
  });

  it('uses setpriv so that the helper keeps its pid (exec) and dies with its parent', async (t) => {
    const wrapped = withParentDeathSignal('sleep', ['30']);
    if (!wrapped.command.endsWith('setpriv')) {
      t.skip('util-linux setpriv is not installed');
      return;
    }
    assert.deepEqual(wrapped.args, ['--pdeathsig', 'TERM', '--', 'sleep', '30']);
    const url = pathToFileURL(fileURLToPath(new URL('../../agent/vrrp/supervisor.js', import.meta.url))).href;
    const logUrl = pathToFileURL(fileURLToPath(new URL('../../agent/log.js', import.meta.url))).href;
    const agent = execa(node, ['--input-type=module', '-e', `
      const { Supervisor } = await import(${JSON.stringify(url)});
      const { silentLogger } = await import(${JSON.stringify(logUrl)});
      const sup = new Supervisor({ name: 'sleep', command: 'sleep', args: ['30'], logger: silentLogger });
      sup.start();
      const t = setInterval(() => { if (sup.pid) { console.log(sup.pid); clearInterval(t); } }, 10);
      setInterval(() => {}, 1000);`], { reject: false, buffer: false });
    const pid = await new Promise<number>((resolve) => agent.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    await waitFor(async () => (await execa('ps', ['-o', 'comm=', '-p', String(pid)], { reject: false })).stdout.trim() === 'sleep', { timeoutMs: 3000, what: 'setpriv to exec sleep' });
    agent.kill('SIGKILL');
    await agent;
    await waitFor(() => !alive(pid), { timeoutMs: 2000, intervalMs: 10, what: 'the helper to die with its SIGKILLed parent' });
  });
});
