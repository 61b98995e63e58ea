// systemd's notification socket (sd_notify(3)): where it is, whether the watchdog is on for this
// process, and a sender over native/sd_notify.c (Node's dgram has no AF_UNIX). The variables are
// taken out of the environment once read, as sd_notify's unset_environment does, so keepalived,
// conntrackd and exec checks started later do not notify systemd in the agent's name.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';

interface SdNotifyAddon {
  /** 0, or -errno. */
  notify(address: string, message: string): number;
}

/** dist/agent/daemon/sd-notify.js → dist/native/sd_notify.node */
export const SD_NOTIFY_ADDON = fileURLToPath(new URL('../../native/sd_notify.node', import.meta.url));

/** What systemd asked of this process. */
export interface NotifyEnv {
  /** NOTIFY_SOCKET: an absolute path or "@abstract"; undefined when systemd waits for no notification. */
  readonly socket: string | undefined;
  /** Half of WATCHDOG_USEC, in ms, when the watchdog is on and meant for this process. */
  readonly watchdogMs: number | undefined;
}

/**
 * NOTIFY_SOCKET, and the watchdog interval from WATCHDOG_USEC when WATCHDOG_PID is unset or this
 * pid (a value meant for a parent that exec'd us without clearing it is not ours to answer).
 * Pinging at half the timeout, as sd_watchdog_enabled(3) advises, leaves one lost ping of slack.
 */
export function notifyEnv(env: NodeJS.ProcessEnv, pid: number): NotifyEnv {
  const socket = env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '' ? undefined : env.NOTIFY_SOCKET;
  const usec = Number(env.WATCHDOG_USEC);
  const forUs = env.WATCHDOG_PID === undefined || env.WATCHDOG_PID === '' || Number(env.WATCHDOG_PID) === pid;
  const watchdogMs = socket !== undefined && forUs && Number.isInteger(usec) && usec > 0 ? usec / 2000 : undefined;
  return { socket, watchdogMs };
}

/** Reads the notification variables and removes them from `env`. */
export function takeNotifyEnv(env: NodeJS.ProcessEnv = process.env, pid = process.pid): NotifyEnv {
  const read = notifyEnv(env, pid);
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[name];
  return read;
}

/** Sends one notification; the error text when it could not be sent. */
export type NotifySend = (message: string) => string | undefined;

/** A sender to `socket`, or why there is none (the addon was not built). */
export function notifySender(socket: string, path: string = SD_NOTIFY_ADDON): { send: NotifySend; error?: undefined } | { send?: undefined; error: string } {
  let addon: Partial<SdNotifyAddon>;
  try {
    addon = createRequire(import.meta.url)(path) as Partial<SdNotifyAddon>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === 'MODULE_NOT_FOUND' ? `${path} is not built (native/build.sh)` : `${path}: ${(err as Error).message}` };
  }
  const notify = addon.notify;
  if (typeof notify !== 'function') return { error: `${path} is not the sd_notify module (native/build.sh)` };
  return {
    send: (message) => {
      const status = notify(socket, message);
      return status === 0 ? undefined : `sending to ${socket}: ${getSystemErrorName(status)}`;
    },
  };
}

/** CLOCK_MONOTONIC in µs, the clock systemd reads MONOTONIC_USEC= on (libuv's hrtime is it on Linux). */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}
