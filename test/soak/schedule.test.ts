// The soak schedule: the same seed gives the same run, the rate and the mix the soak promises,
// and the constraints that keep a run meaningful hold over many seeds.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { prng } from '../support/repo.js';
import { AA_FAULTS, BACKEND_FAULTS, LB_FAULTS, PAIR_FAULTS, REDIS_FAULTS, countFaults, makeSchedule, maxDurationMs, type FaultStep, type ScheduleOptions } from './schedule.js';

const base = (seed: number, minutes = 2): ScheduleOptions => ({
  seed, durationMs: minutes * 60_000, lbs: ['lb1', 'lb2'], farms: [{ name: 'web', backends: ['b1', 'b2', 'b3', 'b4'] }],
});
const faults = (steps: ReturnType<typeof makeSchedule>): FaultStep[] => steps.filter((s): s is FaultStep => s.type === 'fault');

describe('soak schedule', () => {
  it('is a function of the seed', () => {
    assert.deepEqual(makeSchedule(base(7)), makeSchedule(base(7)));
    assert.notDeepEqual(makeSchedule(base(7)), makeSchedule(base(8)));
    const r = prng(1);
    const values = Array.from({ length: 1000 }, r);
    assert.ok(values.every((v) => v >= 0 && v < 1));
    assert.ok(new Set(values).size > 990, 'the PRNG repeats itself');
  });

  it('injects at least one fault every 3 s on average, of every pair kind over 10 minutes, never lb-silent', () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      for (const minutes of [2, 10]) {
        const f = faults(makeSchedule(base(seed, minutes)));
        assert.ok(f.length >= (minutes * 60) / 3, `seed ${seed}, ${minutes} min: ${f.length} faults`);
        assert.ok(f.every((s) => s.fault !== 'lb-silent'));
      }
      const counts = countFaults(makeSchedule(base(seed, 10)));
      assert.deepEqual(Object.keys(counts).sort(), [...PAIR_FAULTS].sort(), `seed ${seed}: ${JSON.stringify(counts)}`);
    }
  });

  it('mixes in operator actions of every kind, on both nodes', () => {
    const ops = makeSchedule(base(5, 10)).filter((s) => s.type === 'op');
    assert.deepEqual([...new Set(ops.map((o) => o.action))].sort(), ['drain', 'enable', 'maintenance', 'push-invalid', 'push-valid']);
    assert.deepEqual([...new Set(ops.map((o) => o.node))].sort(), ['lb1', 'lb2']);
  });

  it('active-active: every kind it can take (an LB made silent, BIRD killed), none of the pair\'s VRRP ones, one LB fault at a time over three LBs', () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      const steps = makeSchedule({ ...base(seed, 10), lbs: ['lb1', 'lb2', 'lb3'], kinds: AA_FAULTS });
      assert.deepEqual(Object.keys(countFaults(steps)).sort(), [...AA_FAULTS].sort(), `seed ${seed}`);
      let lbUntil = -1;
      for (const f of faults(steps)) {
        if (!LB_FAULTS.has(f.fault)) continue;
        assert.ok(f.at >= lbUntil, `seed ${seed}: LB faults overlap at ${f.at}`);
        lbUntil = f.at + f.durationMs;
      }
    }
    assert.ok(!AA_FAULTS.includes('keepalived-kill') && !AA_FAULTS.includes('vrrp-link-cut'));
  });

  it('constraints hold for any seed: bounded faults, one LB fault and one Redis fault at a time, a backend of the farm in service, commands to a node not under fault', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
      const steps = makeSchedule(base(seed, 3));
      let lbUntil = -1;
      let lbTarget = '';
      let redisUntil = -1;
      const backendUntil = new Map<string, number>();
      const admin = new Map<string, string>();
      for (const s of steps) {
        assert.ok(s.at >= 0 && s.at < 3 * 60_000);
        if (s.type === 'op') {
          if (s.at < lbUntil) assert.notEqual(s.node, lbTarget, `op on ${s.node} during its fault at ${s.at}`);
          if (s.backend) admin.set(s.backend, s.action);
        } else {
          assert.ok(s.durationMs >= 0 && s.durationMs <= maxDurationMs(s.fault));
          if (LB_FAULTS.has(s.fault)) {
            assert.ok(s.at >= lbUntil, `LB faults overlap at ${s.at}`);
            lbUntil = s.at + s.durationMs;
            lbTarget = s.target;
          } else if (REDIS_FAULTS.has(s.fault)) {
            assert.ok(s.at >= redisUntil, `Redis faults overlap at ${s.at}`);
            redisUntil = s.at + s.durationMs;
          } else {
            assert.ok(BACKEND_FAULTS.has(s.fault));
            assert.ok((backendUntil.get(s.target) ?? -1) <= s.at, `two faults on ${s.target} at ${s.at}`);
            backendUntil.set(s.target, s.at + s.durationMs);
          }
        }
        const out = ['b1', 'b2', 'b3', 'b4'].filter((b) => (backendUntil.get(b) ?? -1) > s.at || (admin.get(b) ?? 'enable') !== 'enable');
        assert.ok(out.length <= 3, `${out.join(', ')} out at ${s.at}`);
      }
    }), { numRuns: 200 });
  });
});
