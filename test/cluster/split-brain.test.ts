import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SplitBrainWatch, type MasterClaim } from '../../agent/cluster/split-brain.js';

const BEAT = 1000;
const watch = () => new SplitBrainWatch('lb2', 2.5 * BEAT, 3 * BEAT);
const claim = (node: string, vrrp: MasterClaim['vrrp'], at: number): MasterClaim => ({ node, vrrp, virtual_router_id: 51, at });

describe('SplitBrainWatch', () => {
  it('regression (soak): a MASTER whose agent was SIGKILLed is no split brain, though its last heartbeat says MASTER until the TTL', () => {
    const w = watch();
    const reported: string[] = [];
    // lb1 beats as MASTER until it dies at 3 s; lb2 takes over at 4 s and reads every beat.
    for (let now = 0; now <= 12_000; now += BEAT) {
      const lb1At = Math.min(now, 3000);
      const change = w.update([claim('lb1', 'MASTER', lb1At), claim('lb2', now >= 4000 ? 'MASTER' : 'BACKUP', now)], now);
      for (const [vrid, nodes] of change.started) reported.push(`${now}: ${vrid} ${nodes.join(',')}`);
    }
    assert.deepEqual(reported, []);
    assert.equal(w.current.size, 0);
  });

  it('a handover is no split brain: the new MASTER is read before the old one says it stepped down', () => {
    const w = watch();
    for (let now = 0; now <= 10_000; now += BEAT) {
      // Both claim MASTER for two beats (5 s and 6 s), then lb1's heartbeat says BACKUP.
      const lb1 = now < 7000 ? 'MASTER' : 'BACKUP';
      const lb2 = now >= 5000 ? 'MASTER' : 'BACKUP';
      assert.equal(w.update([claim('lb1', lb1, now + 17), claim('lb2', lb2, now)], now).started.size, 0, `at ${now}`);
    }
  });

  it('two live MASTERs are reported once they have lasted 3 beats, and the end when one steps down', () => {
    const w = watch();
    const events: string[] = [];
    for (let now = 0; now <= 12_000; now += BEAT) {
      const lb1 = now >= 2000 && now < 8000 ? 'MASTER' : 'BACKUP';
      const change = w.update([claim('lb1', lb1, now), claim('lb2', 'MASTER', now)], now);
      for (const [vrid, nodes] of change.started) events.push(`${now} start ${vrid} ${nodes.join(',')}`);
      for (const vrid of change.ended) events.push(`${now} end ${vrid}`);
    }
    assert.deepEqual(events, ['5000 start 51 lb1,lb2', '8000 end 51']);
  });

  it('counts a heartbeat as live by its changes seen on this clock, whatever the peer\'s clock says', () => {
    const w = watch();
    // lb1's clock is an hour behind; it keeps beating.
    let reportedAt: number | undefined;
    for (let now = 0; now <= 6000; now += BEAT) {
      if (w.update([claim('lb1', 'MASTER', now - 3_600_000), claim('lb2', 'MASTER', now)], now).started.size > 0) reportedAt ??= now;
    }
    assert.equal(reportedAt, 3000);
  });

  it('a node that is not in the store any more stops counting, and claims of other virtual routers are apart', () => {
    const w = watch();
    for (let now = 0; now <= 4000; now += BEAT) w.update([claim('lb1', 'MASTER', now), claim('lb2', 'MASTER', now), { node: 'lb3', vrrp: 'MASTER', virtual_router_id: 52, at: now }], now);
    assert.deepEqual([...w.current], [[51, ['lb1', 'lb2']]]);
    assert.deepEqual(w.update([claim('lb2', 'MASTER', 5000)], 5000).ended, [51]);
  });
});
