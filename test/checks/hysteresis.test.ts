// The rise/fall state machine as tables: a start state, a run of results, the end state and transitions.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { initialState, isTransitioning, observe, resetRun, type HealthState, type Transition } from '../../checks/hysteresis.js';
import type { CheckResult, Health } from '../../checks/types.js';

const OK: CheckResult = { ok: true, message: 'TCP connect to 10.2.0.11:8080: connected', latencyMs: 1 };
const FAIL: CheckResult = { ok: false, message: 'TCP connect to 10.2.0.11:8080: ECONNREFUSED', latencyMs: 1 };
const REASON_FAIL3 = '3 consecutive failures: TCP connect to 10.2.0.11:8080: ECONNREFUSED';

interface Case {
  readonly name: string;
  readonly from: Health;
  readonly rise: number;
  readonly fall: number;
  /** '+' a success, '-' a failure. */
  readonly results: string;
  readonly want: HealthState;
  /** The transitions in order, as `from>to: reason`. */
  readonly transitions: string[];
}

const cases: Case[] = [
  { name: 'unknown stays unknown below rise', from: 'unknown', rise: 2, fall: 3, results: '+',
    want: { health: 'unknown', consecutiveOk: 1, consecutiveFail: 0 }, transitions: [] },
  { name: 'unknown goes up after rise successes', from: 'unknown', rise: 2, fall: 3, results: '++',
    want: { health: 'up', consecutiveOk: 2, consecutiveFail: 0 }, transitions: ['unknown>up: 2 consecutive successes'] },
  { name: 'unknown goes down after fall failures', from: 'unknown', rise: 2, fall: 3, results: '---',
    want: { health: 'down', consecutiveOk: 0, consecutiveFail: 3 }, transitions: [`unknown>down: ${REASON_FAIL3}`] },
  { name: 'unknown: mixed results decide nothing', from: 'unknown', rise: 2, fall: 3, results: '+-+--+',
    want: { health: 'unknown', consecutiveOk: 1, consecutiveFail: 0 }, transitions: [] },
  { name: 'rise 1 goes up on the first success', from: 'unknown', rise: 1, fall: 1, results: '+',
    want: { health: 'up', consecutiveOk: 1, consecutiveFail: 0 }, transitions: ['unknown>up: 1 consecutive success'] },
  { name: 'fall 1 goes down on the first failure', from: 'up', rise: 1, fall: 1, results: '-',
    want: { health: 'down', consecutiveOk: 0, consecutiveFail: 1 },
    transitions: ['up>down: 1 consecutive failure: TCP connect to 10.2.0.11:8080: ECONNREFUSED'] },
  { name: 'up survives fall-1 failures', from: 'up', rise: 2, fall: 3, results: '--',
    want: { health: 'up', consecutiveOk: 0, consecutiveFail: 2 }, transitions: [] },
  { name: 'a success resets the failure run', from: 'up', rise: 2, fall: 3, results: '--+--',
    want: { health: 'up', consecutiveOk: 0, consecutiveFail: 2 }, transitions: [] },
  { name: 'up goes down on the fall-th failure, once', from: 'up', rise: 2, fall: 3, results: '-----',
    want: { health: 'down', consecutiveOk: 0, consecutiveFail: 5 }, transitions: [`up>down: ${REASON_FAIL3}`] },
  { name: 'down comes back after rise successes', from: 'down', rise: 2, fall: 3, results: '+-++',
    want: { health: 'up', consecutiveOk: 2, consecutiveFail: 0 }, transitions: ['down>up: 2 consecutive successes'] },
  { name: 'a full flap: up, down, up', from: 'up', rise: 2, fall: 3, results: '---++',
    want: { health: 'up', consecutiveOk: 2, consecutiveFail: 0 },
    transitions: [`up>down: ${REASON_FAIL3}`, 'down>up: 2 consecutive successes'] },
  { name: 'up stays up on successes, counting them', from: 'up', rise: 2, fall: 3, results: '++++',
    want: { health: 'up', consecutiveOk: 4, consecutiveFail: 0 }, transitions: [] },
];

describe('observe', () => {
  for (const c of cases) {
    it(c.name, () => {
      let state = initialState(c.from);
      const transitions: string[] = [];
      for (const r of c.results) {
        const out = observe(state, r === '+' ? OK : FAIL, c);
        state = out.state;
        const t: Transition | undefined = out.transition;
        if (t) transitions.push(`${t.from}>${t.to}: ${t.reason}`);
      }
      assert.deepEqual(state, c.want);
      assert.deepEqual(transitions, c.transitions);
    });
  }

  it('does not change the state it is given', () => {
    const state = Object.freeze(initialState('up'));
    observe(state, FAIL, { rise: 1, fall: 1 });
    assert.deepEqual(state, { health: 'up', consecutiveOk: 0, consecutiveFail: 0 });
  });

  it('starts from unknown by default', () => {
    assert.deepEqual(initialState(), { health: 'unknown', consecutiveOk: 0, consecutiveFail: 0 });
  });
});

describe('isTransitioning', () => {
  const table: Array<[HealthState, boolean]> = [
    [{ health: 'up', consecutiveOk: 5, consecutiveFail: 0 }, false],
    [{ health: 'up', consecutiveOk: 0, consecutiveFail: 1 }, true],
    [{ health: 'down', consecutiveOk: 0, consecutiveFail: 4 }, false],
    [{ health: 'down', consecutiveOk: 1, consecutiveFail: 0 }, true],
    [{ health: 'unknown', consecutiveOk: 0, consecutiveFail: 0 }, false],
    [{ health: 'unknown', consecutiveOk: 1, consecutiveFail: 0 }, true],
    [{ health: 'unknown', consecutiveOk: 0, consecutiveFail: 1 }, true],
  ];
  for (const [state, want] of table) it(`${JSON.stringify(state)} -> ${want}`, () => assert.equal(isTransitioning(state), want));

  it('resetRun keeps health and clears the run', () => {
    assert.deepEqual(resetRun({ health: 'down', consecutiveOk: 1, consecutiveFail: 0 }), initialState('down'));
  });
});
