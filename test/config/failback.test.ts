// check-config's failback advice: conntrackd with preempt and no preempt_delay resets the peer's
// streams on every failback (the chaos soak measured it), so it is flagged; every way out is quiet.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { failbackAdvice } from '../../config/failback.js';

const CONNTRACKD = { interface: 'back', local_address: '10.3.0.1', peer_address: '10.3.0.2' };

describe('failbackAdvice', () => {
  const cases: { name: string; config: Parameters<typeof failbackAdvice>[0]; warns: boolean }[] = [
    { name: 'conntrackd, preempt, no delay', config: { vrrp: { preempt: true }, conntrackd: CONNTRACKD }, warns: true },
    { name: 'conntrackd, preempt, a delay', config: { vrrp: { preempt: true, preempt_delay: 2000 }, conntrackd: CONNTRACKD }, warns: false },
    { name: 'conntrackd, no preempt', config: { vrrp: { preempt: false }, conntrackd: CONNTRACKD }, warns: false },
    { name: 'preempt without conntrackd', config: { vrrp: { preempt: true } }, warns: false },
    { name: 'conntrackd without vrrp', config: { conntrackd: CONNTRACKD }, warns: false },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.warns ? 'warns' : 'quiet'}`, () => {
      const advice = failbackAdvice(c.config);
      assert.equal(advice.length, c.warns ? 1 : 0, JSON.stringify(advice));
      if (c.warns) assert.match(advice[0]!, /^vrrp\.preempt_delay: .*conntrackd/);
    });
  }
});
