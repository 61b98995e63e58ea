// The liveness heartbeat as keepalived's track script sees it: `test FILE -nt /proc/self` passes
// while the agent's event loop runs, fails once it stalls past the grace, and fails after stop.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHeartbeat } from '../../agent/vrrp/heartbeat.js';
import { aliveScript, HEARTBEAT_GRACE_MS, LIVENESS_BOUND_MS } from '../../agent/vrrp/liveness.js';

const dir = mkdtempSync(join(tmpdir(), 'ha-heartbeat-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the track script exactly as keepalived would (its string split on spaces, no shell). */
function scriptPasses(path: string): boolean {
  const [command, ...args] = aliveScript(path).split(' ');
  return spawnSync(command!, args).status === 0;
}

const busyWait = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* a hung event loop */ }
};

describe('liveness heartbeat', () => {
  it('sets the deadline ahead of now before returning, so a keepalived started next sees a live agent', async () => {
    const path = join(dir, 'a');
    const hb = await startHeartbeat(path);
    const ahead = statSync(path).mtimeMs - Date.now();
    assert.ok(ahead > HEARTBEAT_GRACE_MS - 200 && ahead <= HEARTBEAT_GRACE_MS, `deadline ${ahead} ms ahead`);
    assert.equal(scriptPasses(path), true);
    await hb.stop();
    assert.equal(scriptPasses(path), false, 'stop() puts the deadline in the past');
  });

  it('a stalled event loop lets the deadline pass; a running one keeps it ahead', async () => {
    const path = join(dir, 'b');
    const hb = await startHeartbeat(path, { everyMs: 20, graceMs: 200 });
    try {
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(scriptPasses(path), true, 'the timer kept the deadline ahead');
      busyWait(350);
      assert.equal(scriptPasses(path), false, 'no timer ran while the loop was blocked');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(scriptPasses(path), true, 'the resumed loop pushed it ahead again');
    } finally {
      await hb.stop();
    }
  });

  it('a missing heartbeat file fails the script (no agent ever ran)', () => {
    assert.equal(scriptPasses(join(dir, 'never-written')), false);
  });

  it('documents the bound as grace plus the 1 s script interval', () => {
    assert.equal(LIVENESS_BOUND_MS, HEARTBEAT_GRACE_MS + 1000);
  });
});
