// The scheduler on a fake clock (spread, intervals, pause, concurrency, reload, stop), then with
// real tcp probes against loopback servers, still on the fake clock.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../checks/clock.fake.js';
import type { Transition } from '../../checks/hysteresis.js';
import { Scheduler, targetKey, type SchedulerOptions } from '../../checks/scheduler.js';
import { tcpProbe } from '../../checks/tcp.js';
import type { CheckResult, CheckTarget, Probe } from '../../checks/types.js';
import { checkSchema, type CheckConfig } from '../../config/schema.js';
import { waitFor } from '../netns/poll.js';
import { sleep, tcpServer } from './servers.js';

const tcp = (extra: Record<string, unknown> = {}): CheckConfig => checkSchema.parse({ type: 'tcp', interval: '1s', timeout: '500ms', ...extra });
const target = (i: number): CheckTarget => ({ farm: 'app', backend: `b${i}`, ip: '10.0.0.1', port: 8000 + i });

/** A fake world: each probe is recorded with its start time; answers come from `verdict`, after `takesMs` of fake time. */
function world(clock: FakeClock, options: { takesMs?: number; verdict?: (t: CheckTarget, n: number) => boolean } = {}) {
  const starts: Array<{ key: string; at: number }> = [];
  const transitions: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let aborted = 0;
  const probe: Probe = (t, _timeout, signal) => {
    const n = starts.filter((s) => s.key === targetKey(t)).length;
    starts.push({ key: targetKey(t), at: clock.now() });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const result: CheckResult = { ok: options.verdict?.(t, n) ?? true, message: `fake ${t.backend}: ${n}`, latencyMs: options.takesMs ?? 0 };
    return new Promise((resolve) => {
      const done = (r: CheckResult) => {
        inFlight--;
        resolve(r);
      };
      if (!options.takesMs) return done(result);
      const onAbort = () => {
        aborted++;
        clock.clearTimer(timer);
        done({ ok: false, message: 'aborted', latencyMs: 0 });
      };
      const timer = clock.setTimer(() => {
        signal?.removeEventListener('abort', onAbort);
        done(result);
      }, options.takesMs);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  };
  const base: SchedulerOptions = {
    probeFor: () => probe,
    clock,
    resolutionMs: 0,
    onTransition: (t: CheckTarget, tr: Transition) => transitions.push(`${clock.now()} ${targetKey(t)} ${tr.from}>${tr.to}: ${tr.reason}`),
  };
  return {
    starts, transitions, base,
    get maxInFlight() { return maxInFlight; },
    get aborted() { return aborted; },
    startsOf: (key: string) => starts.filter((s) => s.key === key).map((s) => s.at),
  };
}

describe('Scheduler (fake clock)', () => {
  it('spreads first probes over the first interval with one timer', async () => {
    const clock = new FakeClock();
    const w = world(clock);
    let i = 0;
    const s = new Scheduler({ ...w.base, random: () => (i++ + 0.5) / 100 });
    for (let n = 0; n < 100; n++) s.add({ target: target(n), check: tcp() });
    assert.equal(clock.pendingTimers, 1);
    await clock.advance(999);
    const firsts = w.starts.map((x) => x.at);
    assert.equal(firsts.length, 100);
    assert.equal(new Set(firsts).size, 100, 'no two backends probed at the same moment');
    assert.deepEqual(firsts, Array.from({ length: 100 }, (_, n) => n * 10 + 5));
    assert.ok(clock.pendingTimers <= 1);
    await s.stop();
  });

  it('probes every interval, and several due together share one tick at the resolution', async () => {
    const clock = new FakeClock();
    const w = world(clock);
    const s = new Scheduler({ ...w.base, random: () => 0.25, resolutionMs: 10 });
    s.add({ target: target(0), check: tcp() });
    await clock.advance(3500);
    assert.deepEqual(w.startsOf('app/b0'), [250, 1250, 2250, 3250]);
    await s.stop();
  });

  it('probes at fastinter between states and at downinter while down', async () => {
    const clock = new FakeClock();
    // Up for 3 probes, then failing for 6, then fine again.
    const w = world(clock, { verdict: (_t, n) => n < 3 || n >= 9 });
    const s = new Scheduler({ ...w.base, random: () => 0 });
    s.add({ target: target(0), check: tcp({ rise: 2, fall: 3, fastinter: '100ms', downinter: '5s' }), initial: 'up' });
    await clock.advance(30_000);
    const at = w.startsOf('app/b0').slice(0, 12);
    // 0,1000,2000 ok; 3000 fail -> fastinter; 3100,3200 fail -> down -> downinter 5 s;
    // 8200 fail, 13200 fail, 18200 fail; 23200 ok -> fastinter; 23300 ok -> up -> interval.
    assert.deepEqual(at, [0, 1000, 2000, 3000, 3100, 3200, 8200, 13200, 18200, 23200, 23300, 24300]);
    assert.deepEqual(w.transitions, [
      '3200 app/b0 up>down: 3 consecutive failures: fake b0: 5',
      '23300 app/b0 down>up: 2 consecutive successes',
    ]);
    assert.equal(s.state('app/b0')?.health, 'up');
    await s.stop();
  });

  it('never has more than maxInFlight probes running, and gets through them all', async () => {
    const clock = new FakeClock();
    const w = world(clock, { takesMs: 100 });
    const s = new Scheduler({ ...w.base, random: () => 0, maxInFlight: 5 });
    for (let n = 0; n < 50; n++) s.add({ target: target(n), check: tcp({ interval: '10s' }) });
    await clock.advance(999);
    assert.equal(w.maxInFlight, 5);
    assert.equal(w.starts.length, 50);
    assert.equal(new Set(w.starts.map((x) => x.key)).size, 50);
    assert.equal(Math.max(...w.starts.map((x) => x.at)), 900);
    await s.stop();
  });

  it('pause stops the probes and drops the one in flight; resume starts them again', async () => {
    const clock = new FakeClock();
    const results: string[] = [];
    const w = world(clock, { takesMs: 100 });
    const s = new Scheduler({ ...w.base, random: () => 0, onResult: (_t, r) => results.push(`${clock.now()} ${r.message}`) });
    s.add({ target: target(0), check: tcp() });
    await clock.advance(1050); // probes at 0 (result at 100) and 1000 (in flight)
    assert.equal(s.pause('app/b0'), true);
    assert.equal(w.aborted, 1);
    await clock.advance(5000);
    assert.deepEqual(w.startsOf('app/b0'), [0, 1000]);
    assert.deepEqual(results, ['100 fake b0: 0'], 'the aborted probe reports nothing');
    assert.equal(s.resume('app/b0'), true);
    await clock.advance(1999);
    assert.deepEqual(w.startsOf('app/b0'), [0, 1000, 6050, 7050]);
    assert.equal(s.pause('nope'), false);
    await s.stop();
  });

  it('remove, update and replaceAll (reload) keep the health of kept targets', async () => {
    const clock = new FakeClock();
    const w = world(clock);
    const s = new Scheduler({ ...w.base, random: () => 0 });
    s.replaceAll([0, 1, 2].map((n) => ({ target: target(n), check: tcp({ rise: 1 }) })));
    await clock.advance(10);
    assert.equal(s.state('app/b1')?.health, 'up');
    s.replaceAll([1, 2, 3].map((n) => ({ target: target(n), check: tcp({ rise: 1, interval: n === 2 ? '250ms' : '1s' }) })));
    assert.deepEqual([s.size, s.state('app/b0'), s.state('app/b1')?.health], [3, undefined, 'up']);
    await clock.advance(990);
    assert.deepEqual(w.startsOf('app/b0'), [0], 'removed: not probed again');
    assert.deepEqual(w.startsOf('app/b1'), [0, 1000], 'unchanged: keeps its schedule');
    assert.deepEqual(w.startsOf('app/b2'), [0, 10, 260, 510, 760], 'updated: rescheduled at its new interval');
    assert.deepEqual(w.startsOf('app/b3'), [10], 'added: first probe spread over its first interval');
    assert.equal(s.remove('app/b3'), true);
    assert.equal(s.remove('app/b3'), false);
    await s.stop();
  });

  it('builds one probe per check object: backends sharing a check share its probe', async () => {
    const clock = new FakeClock();
    const w = world(clock);
    const built: CheckConfig[] = [];
    const s = new Scheduler({ ...w.base, probeFor: (check) => (built.push(check), w.base.probeFor(check)) });
    const shared = tcp();
    s.replaceAll([0, 1].map((n) => ({ target: target(n), check: shared })));
    assert.equal(built.length, 1, 'one probe for the farm, not one per backend');
    const reloaded = tcp({ interval: '2s' });
    s.add({ target: target(1), check: reloaded });
    s.add({ target: target(2), check: reloaded });
    assert.deepEqual(built, [shared, reloaded], 'a new check object (update) gets a new probe, shared again');
    await s.stop();
  });

  it('stop aborts probes in flight, resolves when they settle, and leaves no timer', async () => {
    const clock = new FakeClock();
    const w = world(clock, { takesMs: 400 });
    const s = new Scheduler({ ...w.base, random: () => 0 });
    for (let n = 0; n < 10; n++) s.add({ target: target(n), check: tcp() });
    await clock.advance(100);
    await s.stop();
    assert.deepEqual([w.aborted, s.inFlight, clock.pendingTimers], [10, 0, 0]);
    s.add({ target: target(99), check: tcp() });
    await clock.advance(5000);
    assert.equal(w.starts.length, 10);
  });

  it('starts from the persisted health and survives a throwing callback', async () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const w = world(clock, { verdict: () => false });
    const s = new Scheduler({ ...w.base, random: () => 0, onResult: () => { throw new Error('boom'); }, onError: (e) => errors.push(e) });
    s.add({ target: target(0), check: tcp({ fall: 2 }), initial: 'down' });
    await clock.advance(5000);
    assert.equal(w.startsOf('app/b0').length, 6);
    assert.equal(errors.length, 6);
    assert.deepEqual(w.transitions, [], 'already down: failures change nothing');
    await s.stop();
  });

  it('arms few timers when many probes are due close together', async () => {
    const clock = new FakeClock();
    const w = world(clock);
    const s = new Scheduler({ ...w.base, resolutionMs: 10 });
    for (let n = 0; n < 2000; n++) s.add({ target: target(n), check: tcp() });
    await clock.advance(3000);
    assert.ok(w.starts.length >= 5000, `${w.starts.length}`);
    assert.ok(clock.armed.length <= 3000 / 10 + 10, `${clock.armed.length} timers for ${w.starts.length} probes`);
    await s.stop();
  });
});

describe('Scheduler (real backends on loopback, fake clock)', () => {
  it('checks real backends, brings them up, and stops promptly', async () => {
    const servers = await Promise.all(Array.from({ length: 5 }, () => tcpServer()));
    const clock = new FakeClock();
    const transitions: string[] = [];
    let results = 0;
    const s = new Scheduler({
      probeFor: () => tcpProbe,
      clock,
      resolutionMs: 0,
      random: () => 0,
      onResult: () => void results++,
      onTransition: (t, tr) => transitions.push(`${t.backend} ${tr.from}>${tr.to}`),
    });
    /**
     * Moves the clock on one interval at a time, and lets each round of real probes answer
     * before the next: the schedule is the clock's, only the answers take real time.
     */
    const run = async (ms: number): Promise<void> => {
      for (let left = ms; left > 0; left -= 100) {
        await clock.advance(Math.min(100, left));
        await waitFor(() => s.inFlight === 0, { timeoutMs: 2000, intervalMs: 1, what: 'the probes in flight' });
      }
    };
    try {
      servers.forEach((srv, n) => s.add({ target: { ...target(n), ip: '127.0.0.1', port: srv.port }, check: tcp({ interval: '100ms', rise: 2 }) }));
      await run(450);
      assert.ok(results >= 15 && results <= 25, `${results} results`);
      assert.equal(results, 25, 'probes at 0, 100, 200, 300 and 400 ms');
      assert.deepEqual(transitions.sort(), [0, 1, 2, 3, 4].map((n) => `b${n} unknown>up`));
      await servers[0]!.close();
      await run(400);
      assert.equal(s.state('app/b0')?.health, 'down');
      const started = performance.now();
      await s.stop();
      assert.ok(performance.now() - started < 500);
      assert.equal(clock.pendingTimers, 0);
      const after = results;
      await clock.advance(200);
      await sleep(50);
      assert.equal(results, after, 'no results after stop');
    } finally {
      await s.stop();
      await Promise.all(servers.slice(1).map((srv) => srv.close()));
    }
  });
});
