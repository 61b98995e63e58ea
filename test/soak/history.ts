// The soak's history: one JSON object per line, written by the runner (run.ts) as things happen and
// read back by the checker (checker.ts) afterwards. Everything the checker judges must be in here,
// so a saved history can be re-checked, and a planted history can test the checker itself.
// Times are milliseconds since the run's start (monotonic clock of the runner).

export type LbName = string;

/** Bounds the checker holds the agents to; the runner writes the ones its config implies. */
export interface Bounds {
  /** A backend failing until the agent has marked it down (check interval × fall + timeout). */
  readonly detectionMs: number;
  /** A decision until the rules in the kernel carry it (apply, on every LB). */
  readonly applyMs: number;
  /** The active LB failing until the VIP answers from the other one. */
  readonly failoverMs: number;
  /** An external flush of the agent's rules until they are repaired. */
  readonly repairMs: number;
  /** After the schedule ends, before the final comparison. */
  readonly settleMs: number;
  /**
   * Optional: how long before a failover a stream may have been opened and still be lost with
   * conntrackd (its entry not yet synced to the peer). The checker defaults to 2000 ms.
   */
  readonly conntrackSyncMs?: number;
  /**
   * Optional (absent: 0): after a Redis fault ends, how long an agent may take to reach Redis
   * again (a connect attempt that went out during the fault times out first, then its retry);
   * an operator action is bounded from then on.
   */
  readonly resyncMs?: number;
  /**
   * Optional (absent: 0): how long the client takes to call a stream whose packets vanish broken
   * (its echo timeout). In dsr and tunnel modes an event that moves a flow may break it silently,
   * so the break may be recorded this much later than the event.
   */
  readonly streamTimeoutMs?: number;
  /**
   * Optional: how often the runner polls each LB's status (default 250 ms): a health record may
   * lag the rules it describes by this much.
   */
  readonly pollMs?: number;
}

export interface RunRecord {
  readonly kind: 'run';
  readonly t: number;
  readonly seed: number;
  readonly minutes: number;
  readonly mode: 'dnat' | 'snat' | 'dsr' | 'tunnel';
  /** Whether conntrackd syncs the pair (established dnat/snat flows survive a failover). */
  readonly conntrackd: boolean;
  readonly lbs: readonly LbName[];
  readonly farms: readonly {
    readonly name: string;
    readonly vip: string;
    readonly backends: readonly string[];
    /** Optional: weight by backend name (absent: every backend weighs 1), for the final shares. */
    readonly weights?: Readonly<Record<string, number>>;
  }[];
  readonly bounds: Bounds;
  /** Optional: the agents' `cut_on_down` (absent: true, the default), which lets a down mark break streams. */
  readonly cutOnDown?: boolean;
  /**
   * Optional: the lab's shape (absent: pair). Active-active: every LB serves at once behind the
   * router's ECMP, and `vip` records say which LBs the router's route leads to.
   */
  readonly topology?: 'pair' | 'active-active';
  /**
   * Optional: how far a final kernel share may be from weight / total weight (absent: the
   * checker's own, for statistic chains). Bucket tables (hash-5tuple's Maglev) are only
   * approximately weight-proportional, so their runs give a wider one.
   */
  readonly shareTolerance?: number;
}

export type FaultKind =
  | 'backend-kill' | 'backend-blackhole' | 'backend-slow'
  | 'agent-sigkill' | 'agent-sigstop' | 'agent-sighup-valid' | 'agent-sighup-invalid'
  | 'keepalived-kill' | 'redis-kill' | 'redis-restart-empty' | 'redis-partition'
  | 'vrrp-link-cut' | 'rules-flush' | 'lb-silent' | 'bird-kill';

/**
 * A fault injected on `target` (a backend name, an LB name, or 'redis'). `start` and `end` share an
 * `id`; a fault with no end (an agent SIGHUP, a flush) is instantaneous and has `phase: 'point'`.
 */
export interface FaultRecord {
  readonly kind: 'fault';
  readonly t: number;
  readonly id: number;
  readonly fault: FaultKind;
  readonly target: string;
  readonly phase: 'start' | 'end' | 'point';
}

export type OperatorAction = 'drain' | 'maintenance' | 'enable' | 'push-valid' | 'push-invalid';

/**
 * An operator command run on `node` (agentctl), with what it answered. agentctl answers once the
 * node has taken the action, which may be long after it was sent (a Redis the node cannot reach
 * yet still believes connected): the node took it at some moment between `sent` and `t`.
 */
export interface OperatorRecord {
  readonly kind: 'op';
  /** When agentctl answered: an accepted action has been taken by the node by then. */
  readonly t: number;
  /** When the command was sent (absent: at `t`); the action may take effect from then on. */
  readonly sent?: number;
  readonly node: LbName;
  readonly action: OperatorAction;
  readonly farm?: string;
  readonly backend?: string;
  /** Whether agentctl accepted it (an invalid push must be refused: ok false). */
  readonly ok: boolean;
  readonly error?: string;
}

/** One new connection through the VIP: when it started and ended, and which backend answered. */
export interface ConnRecord {
  readonly kind: 'conn';
  /** When the connection was started (the record is written when it ends: `end`). */
  readonly t: number;
  readonly end: number;
  readonly farm: string;
  readonly ok: boolean;
  /** Optional: the client's source port (a reused port may meet the LB's entry of an older flow). */
  readonly port?: number;
  /** The backend that answered (its name, as it says itself), when ok. */
  readonly backend?: string;
  readonly error?: string;
}

/** A long-lived stream through the VIP: opened on a backend, closed by the runner, or broken. */
export interface StreamRecord {
  readonly kind: 'stream';
  readonly t: number;
  readonly id: number;
  readonly farm: string;
  readonly phase: 'open' | 'close' | 'break';
  readonly backend?: string;
  readonly error?: string;
}

/** What an LB's agent reports for a backend (from `agentctl status`), on each change. */
export interface HealthRecord {
  readonly kind: 'health';
  readonly t: number;
  readonly node: LbName;
  readonly farm: string;
  readonly backend: string;
  readonly state: 'up' | 'down';
  readonly admin: 'enabled' | 'drain' | 'maintenance';
}

/** Which LB holds the VIP (VRRP MASTER; active-active: a next hop of the router's route to it), on each change. */
export interface VipRecord {
  readonly kind: 'vip';
  readonly t: number;
  readonly node: LbName;
  readonly holds: boolean;
}

/** A process the runner watches ended (agent, keepalived, conntrackd, redis, bird). */
export interface ExitRecord {
  readonly kind: 'exit';
  readonly t: number;
  readonly node: LbName | 'redis';
  readonly process: 'agent' | 'keepalived' | 'conntrackd' | 'redis' | 'bird';
  readonly code: number | null;
  readonly signal: string | null;
}

/** A log line at error level or above from an agent (its JSON line, as printed). */
export interface LogRecord {
  readonly kind: 'log';
  readonly t: number;
  readonly node: LbName;
  readonly level: string;
  readonly msg: string;
  readonly line: string;
}

/** Per backend of one farm, as the MARK chain of one LB gives it: its share of new connections. */
export type RuleShares = Readonly<Record<string, number>>;

/** The final comparison, after the schedule ended and the settle time passed. */
export interface FinalRecord {
  readonly kind: 'final';
  readonly t: number;
  /** Whether each backend's server is up at the end (the health truth), by farm then backend. */
  readonly truth: Readonly<Record<string, Readonly<Record<string, boolean>>>>;
  readonly nodes: readonly {
    readonly node: LbName;
    /** Shares read back from the kernel, by farm. */
    readonly kernel: Readonly<Record<string, RuleShares>>;
    /**
     * Optional, by farm: a digest of the whole table the kernel holds (bucket -> backend), for
     * tables whose shares alone do not say two LBs send every flow to the same backend.
     */
    readonly digest?: Readonly<Record<string, string>>;
    /** What `agentctl status` says, by farm then backend. */
    readonly status: Readonly<Record<string, Readonly<Record<string, { readonly state: 'up' | 'down'; readonly admin: 'enabled' | 'drain' | 'maintenance' }>>>>;
  }[];
}

/** The end of the run (written last; a history without it was cut short). */
export interface EndRecord {
  readonly kind: 'end';
  readonly t: number;
}

export type HistoryRecord =
  | RunRecord | FaultRecord | OperatorRecord | ConnRecord | StreamRecord | HealthRecord
  | VipRecord | ExitRecord | LogRecord | FinalRecord | EndRecord;
