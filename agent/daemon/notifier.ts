// What the agent tells systemd (Type=notify): READY=1 once the rules are in the kernel and the
// control socket listens, RELOADING=1/READY=1 around a reload, STOPPING=1, a STATUS= line for
// `systemctl status`, and WATCHDOG=1 from a timer on the event loop, so a loop that is blocked
// sends nothing and systemd restarts the agent. The daemon says when; this module says what.

import { systemClock, type Clock, type TimerHandle } from '../../checks/clock.js';
import type { Status } from '../control/status.js';
import type { Logger } from '../log.js';
import { monotonicUsec, notifySender, takeNotifyEnv, type NotifySend } from './sd-notify.js';

/** At most one STATUS= line this often: a flapping backend must not flood systemd's socket. */
export const STATUS_INTERVAL_MS = 1000;

/** The status line is also looked at this often, for what changes without an event (the cluster's state). */
export const STATUS_REFRESH_MS = 10_000;

/** "3 farms, 7/9 backends up, VRRP MASTER", and what else is not as it should be. */
export function statusLine(status: Status): string {
  let total = 0;
  let up = 0;
  for (const farm of status.farms) {
    for (const backend of farm.backends) {
      total++;
      if (backend.health === 'up') up++;
    }
  }
  const parts = [`${status.farms.length} ${status.farms.length === 1 ? 'farm' : 'farms'}`, `${up}/${total} backends up`];
  if (status.vrrp.state !== 'DISABLED') parts.push(`VRRP ${status.vrrp.state}`);
  if (status.cluster.state !== 'disabled') parts.push(`cluster ${status.cluster.state}`);
  if (!status.dataplane.in_sync) parts.push('rules out of sync');
  return parts.join(', ');
}

export interface NotifierDeps {
  /** Absent: systemd waits for no notification, and nothing is done. */
  readonly send?: NotifySend;
  readonly clock: Clock;
  readonly logger: Logger;
  /** CLOCK_MONOTONIC in µs, for MONOTONIC_USEC= with RELOADING=1. */
  readonly monotonicUsec: () => bigint;
  /** The ping interval (half of WATCHDOG_USEC); undefined: no watchdog. */
  readonly watchdogMs?: number;
  readonly statusIntervalMs?: number;
  readonly statusRefreshMs?: number;
}

type Phase = 'starting' | 'ready' | 'reloading' | 'stopping';

export class SystemdNotifier {
  private phase: Phase = 'starting';
  private describe: (() => string) | undefined;
  private lastStatus: string | undefined;
  private lastStatusAt = -Infinity;
  private statusTimer: TimerHandle | undefined;
  private watchdog: TimerHandle | undefined;
  private refresh: TimerHandle | undefined;
  private failing = false;

  constructor(private readonly deps: NotifierDeps) {}

  /** Starts the watchdog pings (if systemd asked for them). */
  start(): void {
    const interval = this.deps.watchdogMs;
    if (!this.deps.send || interval === undefined || this.watchdog !== undefined) return;
    const ping = (): void => {
      this.send('WATCHDOG=1');
      this.watchdog = this.deps.clock.setTimer(ping, interval);
    };
    ping();
  }

  /** A STATUS= line while starting (the status of the farms comes with READY=1). */
  starting(what: string): void {
    if (this.phase === 'starting') this.send(`STATUS=${what}`);
  }

  /** The agent is up: READY=1 with the first status line; later changes() send the line again. */
  ready(describe: () => string): void {
    if (!this.deps.send || this.phase !== 'starting') return;
    this.describe = describe;
    this.phase = 'ready';
    this.send(`READY=1\n${this.statusField()}`);
    const every = this.deps.statusRefreshMs ?? STATUS_REFRESH_MS;
    const look = (): void => {
      this.changed();
      this.refresh = this.deps.clock.setTimer(look, every);
    };
    this.refresh = this.deps.clock.setTimer(look, every);
  }

  /** Something the status line shows may have changed: sent when it did, at most once per interval. */
  changed(): void {
    if (this.phase !== 'ready' || this.statusTimer !== undefined) return;
    const wait = this.lastStatusAt + (this.deps.statusIntervalMs ?? STATUS_INTERVAL_MS) - this.deps.clock.now();
    if (wait <= 0) {
      this.sendStatus();
      return;
    }
    this.statusTimer = this.deps.clock.setTimer(() => {
      this.statusTimer = undefined;
      if (this.phase === 'ready') this.sendStatus();
    }, wait);
  }

  /** A reload begins (SIGHUP, agentctl reload). Before READY=1 the reload is part of starting, and says nothing. */
  reloading(): void {
    if (this.phase !== 'ready') return;
    this.phase = 'reloading';
    this.send(`RELOADING=1\nMONOTONIC_USEC=${this.deps.monotonicUsec()}\nSTATUS=reloading the config`);
  }

  /** The reload is over, applied or refused: either way a config runs, and the agent is ready again. */
  reloaded(): void {
    if (this.phase !== 'reloading') return;
    this.phase = 'ready';
    this.send(`READY=1\n${this.statusField()}`);
  }

  stopping(): void {
    if (this.phase === 'stopping') return;
    this.phase = 'stopping';
    this.clearStatusTimer();
    this.send('STOPPING=1\nSTATUS=stopping');
  }

  /** No more pings or status lines (the daemon exits). */
  stop(): void {
    this.clearStatusTimer();
    for (const timer of [this.watchdog, this.refresh]) if (timer !== undefined) this.deps.clock.clearTimer(timer);
    this.watchdog = undefined;
    this.refresh = undefined;
  }

  private sendStatus(): void {
    const line = this.currentLine();
    if (line !== this.lastStatus) this.send(this.statusField(line));
  }

  private currentLine(): string {
    try {
      return this.describe?.() ?? 'running';
    } catch (err) {
      return `status unavailable: ${(err as Error).message}`;
    }
  }

  /** STATUS=line, remembered as the last one sent. */
  private statusField(line = this.currentLine()): string {
    this.lastStatus = line;
    this.lastStatusAt = this.deps.clock.now();
    // One line: a newline would start a new assignment in systemd's parser.
    return `STATUS=${line.replace(/\n/g, ' ')}`;
  }

  private clearStatusTimer(): void {
    if (this.statusTimer !== undefined) this.deps.clock.clearTimer(this.statusTimer);
    this.statusTimer = undefined;
  }

  /** A failure is logged once, until a message goes through again. */
  private send(message: string): void {
    const error = this.deps.send?.(message);
    if (error === undefined) {
      if (this.failing) this.deps.logger.info('notifying systemd works again');
      this.failing = false;
    } else if (!this.failing) {
      this.failing = true;
      this.deps.logger.warn({ err: error }, 'cannot notify systemd');
    }
  }
}

/**
 * The notifier systemd asked for through the environment (read once, then removed from it):
 * one that sends nothing when NOTIFY_SOCKET is unset, or when the sd_notify module is missing
 * (said once: a Type=notify unit would wait for READY=1 in vain).
 */
export function notifierFromEnv(logger: Logger, env: NodeJS.ProcessEnv = process.env): SystemdNotifier {
  const asked = takeNotifyEnv(env);
  const sender = asked.socket === undefined ? undefined : notifySender(asked.socket);
  if (sender?.error !== undefined) logger.error({ err: sender.error }, 'NOTIFY_SOCKET is set but the agent cannot notify systemd: a Type=notify unit will time out');
  return new SystemdNotifier({
    clock: systemClock, logger, monotonicUsec,
    ...(sender?.send ? { send: sender.send } : {}),
    ...(asked.watchdogMs !== undefined ? { watchdogMs: asked.watchdogMs } : {}),
  });
}
