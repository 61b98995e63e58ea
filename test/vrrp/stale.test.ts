// Stopping a helper left by an earlier agent: only when its command line names our config.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../agent/log.js';
import { stopStale } from '../../agent/vrrp/stale.js';
import { alive } from '../support/process.js';

const dir = mkdtempSync(join(tmpdir(), 'ha-stale-'));
after(() => rmSync(dir, { recursive: true, force: true }));


/** A long-running process whose command line carries `marker`; reaped by this process. */
function helper(marker: string): { pid: number; exited: Promise<void> } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker], { stdio: 'ignore' });
  return { pid: child.pid!, exited: new Promise((resolve) => child.once('exit', () => resolve())) };
}

describe('stopStale', () => {
  it('stops the process of the pid file when its command line names our config', async () => {
    const conf = join(dir, 'keepalived.conf');
    const h = helper(conf);
    writeFileSync(join(dir, 'a.pid'), `${h.pid}\n`);
    await stopStale(join(dir, 'a.pid'), conf, silentLogger);
    await h.exited;
    assert.equal(alive(h.pid), false);
  });

  it('leaves a recycled pid (another program) alone, and ignores missing or junk pid files', async () => {
    const h = helper('/somewhere/else.conf');
    try {
      writeFileSync(join(dir, 'b.pid'), String(h.pid));
      await stopStale(join(dir, 'b.pid'), join(dir, 'keepalived.conf'), silentLogger);
      assert.equal(alive(h.pid), true);
      writeFileSync(join(dir, 'c.pid'), 'not a pid');
      await stopStale(join(dir, 'c.pid'), 'x', silentLogger);
      await stopStale(join(dir, 'missing.pid'), 'x', silentLogger);
      writeFileSync(join(dir, 'd.pid'), '1');
      await stopStale(join(dir, 'd.pid'), '', silentLogger);
    } finally {
      process.kill(h.pid, 'SIGKILL');
      await h.exited;
    }
  });
});
