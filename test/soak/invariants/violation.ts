// What an invariant reports: which one, when in the run, and what exactly broke it. The names are
// a closed set so tests and the report can tell one invariant from another.

export type InvariantName =
  /** The history itself is inconsistent (unpaired faults, unknown farms, no run record). */
  | 'history'
  /** A new connection failed with no fault, limit or operator action to explain it. */
  | 'failure-unexplained'
  /** A new connection reached a backend well after it went down, before it came back. */
  | 'reached-down-backend'
  /** A new connection reached a backend well after it was drained or put in maintenance. */
  | 'reached-drained-backend'
  /** An established stream broke with no cause the mode allows. */
  | 'stream-broken'
  /** The history has no final record (the settled state was never compared). */
  | 'final-missing'
  /** The final record was taken before the settle time after the last fault or action. */
  | 'final-unsettled'
  /** The LBs' kernel shares differ for a farm. */
  | 'final-rules-differ'
  /** An LB's kernel shares or reported health do not match the health truth. */
  | 'final-truth'
  /** An accepted operator action is not in an LB's status or rules (an action lost). */
  | 'final-admin-lost'
  /** An LB's `agentctl status` disagrees with its own kernel rules. */
  | 'final-status-kernel'
  /** A process exited with no injected fault to explain it. */
  | 'process-exit'
  /** The agent exited after a SIGHUP with an invalid config (it must keep running on the old one). */
  | 'exit-on-invalid-reload'
  /** A fatal, unhandled or uncaught error in an agent's log. */
  | 'log-fatal'
  /** The history has no end record: the run was cut short. */
  | 'cut-short';

export interface Violation {
  readonly invariant: InvariantName;
  readonly t: number;
  readonly detail: string;
}
