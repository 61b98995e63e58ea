// How keepalived learns that the agent is dead or hung, so that such a node gives up MASTER.
//
// Measured in netns pairs at advert_int 100 ms with keepalived 2.2.7 (bench/failover-liveness.ts,
// time from the fault to lb1 dropping the VIP):
// - track_file kept fresh by the agent: never (>6 s) for SIGKILL or SIGSTOP. keepalived only
//   reacts when the file changes (inotify), and a dead or stopped agent changes nothing.
// - vrrp_track_process: unusable. Its proc connector only exists in the initial network
//   namespace ("Failed to set/clear process event listen - errno 111"), so an LB run in a
//   namespace sits in FAULT from the start; and a stopped process still counts as running.
// - track_script: under 2 s for both SIGKILL and SIGSTOP (keepalived runs scripts at most once a
//   second, so the bound is grace + 1 s), and the only one that sees a hang.
// - parent-death signal (spawn mode, see supervisor.ts): milliseconds for SIGKILL, blind to SIGSTOP.
// So: a track_script comparing a heartbeat deadline with now catches both, and in spawn mode the
// parent-death signal makes the common case, a dead agent, near-instant.

/** The agent pushes the heartbeat deadline forward this often. */
export const HEARTBEAT_EVERY_MS = 250;
/** How far ahead the deadline is set: the longest event-loop stall tolerated before giving up MASTER. */
export const HEARTBEAT_GRACE_MS = 1000;
/** keepalived's vrrp_script interval is whole seconds, minimum 1. */
export const ALIVE_SCRIPT_INTERVAL_S = 1;
/** Documented bound: a hung or dead agent's node leaves MASTER within this long. */
export const LIVENESS_BOUND_MS = HEARTBEAT_GRACE_MS + ALIVE_SCRIPT_INTERVAL_S * 1000;

/**
 * The track script: one exec of coreutils `test`, no shell. /proc/self resolves to the `test`
 * process itself, whose procfs inode is created on lookup and so carries the current time: the
 * script succeeds while the heartbeat file's mtime (the deadline) is still in the future.
 */
export function aliveScript(heartbeatPath: string): string {
  return `/usr/bin/test ${heartbeatPath} -nt /proc/self`;
}
