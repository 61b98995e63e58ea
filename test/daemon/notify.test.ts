// The daemon under a Type=notify unit, with a notification socket of the test's own: READY=1
// comes only once the rules are in the kernel and the control socket listens (the agent is
// stopped the moment it arrives, and the kernel looked at), WATCHDOG=1 at half of WATCHDOG_USEC
// and none while the agent does not run, RELOADING=1/READY=1 around every reload (refused ones
// too), STATUS= lines that follow the backends, STOPPING=1 on SIGTERM; all from the agent's pid.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createLab, singleLbTopology, labBackendsYaml, backendIp, VIP, sleep, waitFor, type Lab, type NsProcess } from '../netns/topology.js';
import { needsRoot } from '../support/root.js';
import { agentDir, agentLogs, haAgentBin, markedBackends, runAgentctl, stopAgentEnv, type AgentDir } from '../support/agent.js';
import { monotonicMs, NotifyReceiver, type Notification } from './notify-socket.js';

const WATCHDOG_USEC = 400_000;
const PING_MS = WATCHDOG_USEC / 2000;

/** The process state letter in /proc/<pid>/stat (T: stopped). */
const procState = (pid: number): string => /^\d+ \(.*\) (\S)/s.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1]!;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('systemd notifications (Type=notify, WatchdogSec=)', needsRoot(), () => {
  let lab: Lab;
  let dir: AgentDir;
  let receiver: NotifyReceiver;
  let agent: NsProcess;
  const servers = new Map<number, NsProcess>();
  // A second farm whose exec check passes only when the agent's children did not inherit the
  // notification variables (keepalived or a check must never notify systemd as the agent).
  const config = (b1ip = backendIp(1)) => `${dir.header()}log: { level: debug }
farms:
  - name: web
    vip: ${VIP}
    ports: [80]
    check: { type: tcp, interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }
    backends:
${labBackendsYaml(2).replace(`ip: ${backendIp(1)}`, `ip: ${b1ip}`)}
  - name: env
    vip: ${VIP}
    ports: [81]
    check: { type: exec, interval: 500ms, timeout: 400ms, rise: 1, fall: 1, command: [sh, -c, 'test -z "$NOTIFY_SOCKET$WATCHDOG_USEC$WATCHDOG_PID"'] }
    backends:
      - { name: e1, ip: ${backendIp(1)}, port: 8080 }
`;
  /** The first message after index `from` carrying field=value. */
  const next = (field: string, value: string, from: number, timeoutMs = 5000): Promise<Notification> =>
    receiver.waitFor((n) => n.fields.get(field) === value, timeoutMs, `${field}=${value}`, from);

  before(async () => {
    lab = await createLab(singleLbTopology({ backends: 2, mode: 'dnat' }));
    await lab.addAddress('lb1', 'front', `${VIP}/32`);
    for (const i of [1, 2]) servers.set(i, await lab.serveName(`b${i}`));
    dir = agentDir('ha-agent-notify-');
    dir.write(config());
    receiver = await NotifyReceiver.start(join(dir.dir, 'notify'), ['READY=1']);
    // env execs node in place: the agent's pid is the one the receiver sees as the sender.
    agent = lab.spawn('lb1', 'env', [`NOTIFY_SOCKET=${receiver.address}`, `WATCHDOG_USEC=${WATCHDOG_USEC}`, process.execPath, haAgentBin, 'run', '--config', dir.configPath]);
  });
  after(async () => {
    if (agent?.pid !== undefined && !agent.exited) process.kill(agent.pid, 'SIGCONT');
    await stopAgentEnv({ agent, lab, dir });
    await receiver?.stop();
  });

  it('READY=1 only once the rules are in the kernel and the control socket listens; from the agent\'s pid', async () => {
    const exited = agent.wait(20_000).then((e) => { throw new Error(`the agent exited (${JSON.stringify(e)}): ${agent.stderrLines.slice(-3).join(' | ')}`); });
    const ready = await Promise.race([next('READY', '1', 0, 20_000), exited]);
    exited.catch(() => undefined);
    try {
      assert.equal(ready.frozen, true);
      // The stop takes effect when the agent next enters the kernel: microseconds, not a JavaScript turn.
      await waitFor(() => procState(agent.pid!) === 'T', { timeoutMs: 1000, intervalMs: 1, what: 'the agent to be held where it said READY=1' });
      assert.deepEqual(await markedBackends(lab, 'lb1', 'web'), [0, 1], 'the MARK chain is in the kernel');
      await new Promise<void>((resolve, reject) => {
        const socket = connect(dir.socket, () => { socket.destroy(); resolve(); }).on('error', reject);
      });
    } finally {
      process.kill(agent.pid!, 'SIGCONT');
    }
    const before = receiver.messages.slice(0, receiver.messages.indexOf(ready));
    assert.deepEqual(before.filter((m) => m.fields.has('READY')), [], 'no READY=1 before');
    assert.ok(before.some((m) => m.fields.get('STATUS') === 'applying 2 farms'), JSON.stringify(before.map((m) => m.message)));
    assert.ok(receiver.messages.every((m) => m.pid === agent.pid), 'every message from the main pid (NotifyAccess=main)');
    assert.match(ready.fields.get('STATUS') ?? '', /^2 farms, \d\/3 backends up$/);
  });

  it('log.level from the config: debug lines are logged', async () => {
    await agent.waitForLine('"level":20', 5000);
    assert.ok(agentLogs(agent, (e) => e.level === 20).length > 0);
  });

  it('STATUS= follows the backends; the children did not inherit NOTIFY_SOCKET', async () => {
    await receiver.waitFor((n) => n.fields.get('STATUS') === '2 farms, 3/3 backends up', 5000, 'all 3 backends up');
    const from = receiver.messages.length;
    await servers.get(2)!.stop(1000);
    await receiver.waitFor((n) => n.fields.get('STATUS') === '2 farms, 2/3 backends up', 5000, 'b2 down in the status', from);
    servers.set(2, await lab.serveName('b2'));
    await receiver.waitFor((n) => n.fields.get('STATUS') === '2 farms, 3/3 backends up', 5000, 'b2 back in the status', from);
  });

  it(`WATCHDOG=1 every ${PING_MS} ms (WATCHDOG_USEC=${WATCHDOG_USEC}), and none while the agent is stopped`, async () => {
    const start = monotonicMs();
    await sleep(2000);
    const pings = receiver.with('WATCHDOG', '1').filter((m) => m.at >= start).map((m) => m.at);
    const gaps = pings.slice(1).map((at, i) => at - pings[i]!);
    assert.ok(pings.length >= 8 && pings.length <= 11, `${pings.length} pings in 2 s`);
    assert.ok(Math.abs(median(gaps) - PING_MS) <= 30, `median gap ${median(gaps)} ms`);
    assert.ok(Math.max(...gaps) < 2 * PING_MS, `a gap of ${Math.max(...gaps)} ms: systemd would have restarted the agent`);

    const stoppedAt = monotonicMs();
    process.kill(agent.pid!, 'SIGSTOP');
    await sleep(1000);
    const resumedAt = monotonicMs();
    process.kill(agent.pid!, 'SIGCONT');
    await sleep(500);
    // A datagram sent just before the stop may land a moment after it.
    const whileStopped = receiver.with('WATCHDOG', '1').filter((m) => m.at > stoppedAt + 50 && m.at < resumedAt);
    assert.deepEqual(whileStopped.map((m) => m.at - stoppedAt), [], 'pings while the agent was stopped');
    const after = receiver.with('WATCHDOG', '1').filter((m) => m.at >= resumedAt);
    assert.ok(after.length >= 1 && after[0]!.at - resumedAt < PING_MS, `pings after SIGCONT: ${after.map((m) => m.at - resumedAt)}`);
  });

  /** RELOADING=1 with MONOTONIC_USEC of the moment, then READY=1, after index `from`. */
  const reloadPair = async (from: number, startedAt: number) => {
    const reloading = await next('RELOADING', '1', from);
    const ready = await next('READY', '1', from);
    assert.ok(receiver.messages.indexOf(reloading) < receiver.messages.indexOf(ready), 'RELOADING=1 before READY=1');
    const usec = Number(reloading.fields.get('MONOTONIC_USEC'));
    assert.ok(usec / 1000 >= startedAt - 1 && usec / 1000 <= reloading.at + 1, `MONOTONIC_USEC ${usec} not of the reload (started at ${startedAt} ms)`);
    assert.equal(reloading.pid, agent.pid);
    return ready;
  };

  it('SIGHUP: RELOADING=1 then READY=1; a refused reload too, and the agent runs on', async () => {
    let from = receiver.messages.length;
    let at = monotonicMs();
    agent.kill('SIGHUP');
    await reloadPair(from, at);

    dir.write(config('10.2.0.300'));
    try {
      from = receiver.messages.length;
      at = monotonicMs();
      agent.kill('SIGHUP');
      const ready = await reloadPair(from, at);
      await agent.waitForLine('reload refused', 5000);
      assert.match(ready.fields.get('STATUS') ?? '', /^2 farms, 3\/3 backends up$/, 'the running config goes on');
    } finally {
      dir.write(config());
    }
  });

  it('agentctl reload: RELOADING=1 then READY=1, and agentctl\'s answer comes after', async () => {
    const from = receiver.messages.length;
    const at = monotonicMs();
    const r = await runAgentctl(dir.socket, ['reload']);
    assert.equal(r.exitCode, 0, r.stderr);
    const ready = await reloadPair(from, at);
    assert.ok(ready.at <= monotonicMs());
  });

  it('SIGTERM: STOPPING=1, then the agent exits 0', async () => {
    const from = receiver.messages.length;
    agent.kill('SIGTERM');
    const stopping = await next('STOPPING', '1', from);
    assert.equal(stopping.pid, agent.pid);
    const exit = await agent.wait(10_000);
    assert.equal(exit.exitCode, 0);
    assert.deepEqual(receiver.messages.slice(receiver.messages.indexOf(stopping) + 1).filter((m) => m.fields.has('READY') || m.fields.has('STATUS')), []);
  });
});
