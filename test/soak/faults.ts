// Each fault of the schedule done to the real processes and kernel of a soak lab (the pair's or
// the active-active one), and each operator command run through agentctl; every one written to
// the history as it happens. Faults of one class run one at a time (an LB fault waits for the
// previous one to end, as the schedule intends, even when an agent took longer than planned to
// come back).

import type { FaultKind, FaultRecord, OperatorRecord } from './history.js';
import { LB_FAULTS, REDIS_FAULTS, type FaultStep, type OpStep } from './schedule.js';
import { TAG, type Watched } from './lab.js';
import type { AgentDir } from '../support/agent.js';
import { sleep, waitFor, type Lab } from '../netns/topology.js';

/**
 * What the injector needs of a lab. The daemons only one topology has are optional: a fault
 * that needs one the lab lacks is an error (the schedule of that topology never draws it).
 */
export interface FaultLab {
  readonly lab: Lab;
  readonly dirs: Readonly<Record<string, AgentDir>>;
  readonly servers: ReadonlyMap<string, Watched>;
  readonly redis: Watched | undefined;
  /** The port the backends' servers listen on (what a blackhole drops). */
  readonly backendPort: number;
  config(lb: string): string;
  invalidConfig(lb: string): string;
  /** A file for `agentctl config push`, valid or not. */
  pushFile(lb: string, valid: boolean): string;
  agent(lb: string): Watched;
  startAgent(lb: string): Promise<Watched>;
  startServer(backend: string): Promise<void>;
  startRedis(): Promise<void>;
  agentctl(lb: string, args: readonly string[]): Promise<{ ok: boolean; error?: string }>;
  /** An external flush of the agent's entry chain, as someone else's script would do it. */
  flushRules(lb: string): Promise<void>;
  /** Drops (`on`) or lets through again the LB's packets to and from Redis. */
  partitionRedis(lb: string, on: boolean): Promise<void>;
  keepalivedPid?(lb: string): number | undefined;
  /** Drops (`on`) or lets through again the LB's VRRP adverts. */
  cutVrrp?(lb: string, on: boolean): Promise<void>;
  /** Drops (`on`) or lets through again every frame to and from the LB at the switch. */
  silence?(lb: string, on: boolean): Promise<void>;
  birdPid?(lb: string): number | undefined;
}

/** Where the injector writes: records without their time, stamped by the runner. */
export interface Recorder {
  fault(r: Omit<FaultRecord, 'kind' | 't'>): void;
  op(r: Omit<OperatorRecord, 'kind'>): void;
  now(): number;
}

/** How long a point fault keeps its class busy: the reload or the repair has happened by then. */
const POINT_HOLD_MS = 1000;

/** The lab's optional daemon or ability a fault needs; an error naming the fault when it lacks it. */
function need<T>(what: T | undefined, fault: FaultKind): T {
  if (what === undefined) throw new Error(`${fault} does not apply to this topology`);
  return what;
}

export class Injector {
  private nextId = 1;
  private readonly locks = new Map<string, Promise<void>>();
  readonly injected: Partial<Record<FaultKind, number>> = {};

  constructor(private readonly s: FaultLab, private readonly rec: Recorder) {}

  /** Runs `fn` after every earlier task of the same class has ended. */
  private serial(key: string, fn: () => Promise<void>): Promise<void> {
    const run = (this.locks.get(key) ?? Promise.resolve()).then(fn);
    this.locks.set(key, run.catch(() => undefined));
    return run;
  }

  /** Injects the fault for its duration and ends it; resolves once it has ended. */
  inject(step: FaultStep): Promise<void> {
    const cls = LB_FAULTS.has(step.fault) ? 'lb' : REDIS_FAULTS.has(step.fault) ? 'redis' : `backend:${step.target}`;
    return this.serial(cls, () => this.run(step));
  }

  /**
   * Starts the fault, holds it, ends it. `endsAt: 'before'`: the end is recorded as the undoing
   * starts (the fault is over no later than that, so nothing seen after it is blamed on it);
   * `'after'`: once the process is back (what it does on return is part of the fault).
   */
  private async window(step: FaultStep, begin: () => Promise<void>, finish: () => Promise<void>, endsAt: 'before' | 'after'): Promise<void> {
    const id = this.nextId++;
    this.count(step.fault);
    this.rec.fault({ id, fault: step.fault, target: step.target, phase: 'start' });
    const end = () => this.rec.fault({ id, fault: step.fault, target: step.target, phase: 'end' });
    try {
      await begin();
      await sleep(step.durationMs);
    } finally {
      if (endsAt === 'before') end();
      await finish();
      if (endsAt === 'after') end();
    }
  }

  /** SIGKILLs a daemon the agent supervises; the window lasts until the agent has started it again. */
  private killSupervised(step: FaultStep, pidOf: (lb: string) => number | undefined, what: string): Promise<void> {
    const lb = step.target;
    const pid = pidOf(lb);
    return this.window({ ...step, durationMs: 0 }, async () => {
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    }, async () => {
      await waitFor(() => {
        const now = pidOf(lb);
        return now !== undefined && now !== pid;
      }, { timeoutMs: 15_000, intervalMs: 50, what: `the agent on ${lb} to restart ${what}` }).catch(() => undefined);
    }, 'after');
  }

  private async point(step: FaultStep, act: () => Promise<void>): Promise<void> {
    this.count(step.fault);
    this.rec.fault({ id: this.nextId++, fault: step.fault, target: step.target, phase: 'point' });
    await act();
  }

  private count(fault: FaultKind): void {
    this.injected[fault] = (this.injected[fault] ?? 0) + 1;
  }

  private async run(step: FaultStep): Promise<void> {
    const { s } = this;
    const lab = s.lab;
    const lb = step.target;
    const dir = () => {
      const d = s.dirs[lb];
      if (d === undefined) throw new Error(`${step.fault}: no agent directory for ${lb}`);
      return d;
    };
    const b = step.target;
    switch (step.fault) {
      case 'backend-kill':
        return this.window(step, async () => {
          s.servers.get(b)?.kill('SIGKILL');
          await s.servers.get(b)?.done;
        }, () => s.startServer(b), 'before');
      case 'backend-blackhole': {
        // Packets to the backend's port vanish: no RST, no ICMP, as behind a dead switch port.
        const rule = ['INPUT', '-p', 'tcp', '--dport', String(s.backendPort), ...TAG, '-j', 'DROP'];
        return this.window(step, async () => void await lab.exec(b, 'iptables', ['-I', ...rule]),
          async () => void await lab.exec(b, 'iptables', ['-D', ...rule]), 'before');
      }
      case 'backend-slow': {
        // The server answers late: stopped and resumed in turn, so each answer waits up to `pause`
        // while the kernel still completes handshakes (a TCP check sees it up). Some pauses stay
        // under the check timeout, others exceed it. (No netem: this kernel may lack sch_netem.)
        const pause = 100 + (step.at % 250);
        let on = true;
        let cycle: Promise<void> = Promise.resolve();
        return this.window(step, async () => {
          cycle = (async () => {
            while (on) {
              s.servers.get(b)?.kill('SIGSTOP');
              await sleep(pause);
              s.servers.get(b)?.kill('SIGCONT');
              await sleep(30);
            }
          })();
        }, async () => {
          on = false;
          await cycle;
        }, 'before');
      }
      case 'agent-sigkill':
        // Restarted after the window, as systemd's Restart= would.
        return this.window(step, async () => {
          s.agent(lb).kill('SIGKILL');
          await s.agent(lb).done;
        }, async () => void await s.startAgent(lb), 'after');
      case 'agent-sigstop':
        return this.window(step, async () => s.agent(lb).kill('SIGSTOP'), async () => s.agent(lb).kill('SIGCONT'), 'before');
      case 'agent-sighup-valid':
        return this.point(step, async () => {
          dir().write(s.config(lb));
          s.agent(lb).kill('SIGHUP');
          await sleep(POINT_HOLD_MS);
        });
      case 'agent-sighup-invalid':
        return this.point(step, async () => {
          dir().write(s.invalidConfig(lb));
          s.agent(lb).kill('SIGHUP');
          await sleep(POINT_HOLD_MS);
          // Put back, so a later restart or reload finds the node's real config.
          dir().write(s.config(lb));
        });
      case 'keepalived-kill':
        return this.killSupervised(step, need(s.keepalivedPid, step.fault).bind(s), 'keepalived');
      case 'bird-kill':
        return this.killSupervised(step, need(s.birdPid, step.fault).bind(s), 'BIRD');
      case 'redis-kill':
        return this.window(step, async () => {
          s.redis?.kill('SIGKILL');
          await s.redis?.done;
        }, () => s.startRedis(), 'after');
      case 'redis-restart-empty':
        // Without persistence the new server starts empty.
        return this.window(step, async () => void await s.redis?.stop(2000), () => s.startRedis(), 'after');
      case 'redis-partition':
        return this.window(step, () => s.partitionRedis(lb, true), () => s.partitionRedis(lb, false), 'before');
      case 'vrrp-link-cut': {
        const cut = need(s.cutVrrp, step.fault).bind(s);
        return this.window(step, () => cut(lb, true), () => cut(lb, false), 'before');
      }
      case 'rules-flush':
        // Someone else's script flushing the agent's entry chain: it must notice and repair.
        return this.point(step, async () => {
          await s.flushRules(lb);
          await sleep(POINT_HOLD_MS);
        });
      case 'lb-silent': {
        // Every frame to and from the LB dropped at the switch, the LB still running: the router's
        // BFD must take it out of ECMP; once heard again, BGP brings it back.
        const silence = need(s.silence, step.fault).bind(s);
        return this.window(step, () => silence(lb, true), () => silence(lb, false), 'before');
      }
      default: {
        const never: never = step.fault;
        throw new Error(`unknown fault ${String(never)}`);
      }
    }
  }

  /** Runs the operator command with agentctl on its node; records what agentctl answered. */
  async operate(step: OpStep): Promise<void> {
    const node = step.node;
    const sent = this.rec.now();
    let args: string[];
    if (step.action === 'push-valid' || step.action === 'push-invalid') {
      args = ['config', 'push', this.s.pushFile(node, step.action === 'push-valid')];
    } else {
      args = ['backend', step.farm!, step.backend!, step.action];
    }
    const r = await this.s.agentctl(node, args);
    // agentctl answers once the node took the action, which may be long after the command was
    // sent (a Redis it cannot reach yet believes connected): both moments go to the history, and
    // the checker gives the action effect from the first and holds the bounds from the second.
    this.rec.op({
      t: this.rec.now(), sent, node, action: step.action, ok: r.ok,
      ...(step.farm !== undefined ? { farm: step.farm } : {}), ...(step.backend !== undefined ? { backend: step.backend } : {}),
      ...(r.error !== undefined ? { error: r.error } : {}),
    });
  }
}
