// The narrow capabilities the daemon hands its services (control socket, metrics, keepalived,
// cluster). A service is given the ports it uses and returns what it offers; none imports the
// daemon back or writes into another's object, so a test builds each from small fakes. main.ts
// implements them over the engine, the config and the checks, and installs what services offer.

import type { AdminState, Config, FarmConfig } from '../../config/schema.js';
import type { Netfilter } from '../apply/netfilter.js';
import type { LimitCounts } from '../apply/limit-counters.js';
import type { SharedConfig } from '../cluster/messages.js';
import type { ClusterView, Status } from '../control/status.js';
import type { EngineEvent, HistoryEvent } from '../engine/history.js';
import type { Logger } from '../log.js';
import type { NotifyStats } from '../notify/hooks.js';
import type { DesiredState, Health } from '../plan/plan.js';
import type { VrrpState, VrrpView } from '../vrrp/state.js';
import type { BgpStatus } from '../bgp/bird-status.js';

/** The status document of the running daemon, built when asked (`agentctl status`, /metrics). */
export interface StatusSource {
  status(): Status;
}

/** The engine's events as they happen, and its recent history. */
export interface EventSource {
  /** Calls `listener` for each event until the returned function is called. */
  on(listener: (event: EngineEvent) => void): () => void;
  /** The last `n` transitions, admin changes and apply errors, oldest first. */
  recentEvents(n?: number): HistoryEvent[];
}

/** The config in use and where it came from. */
export interface ConfigSource {
  readonly configPath: string;
  config(): Config;
  /** The shared config revision running now (0: the file's own farms). */
  sharedRevision(): number;
}

export type ReloadOutcome = { ok: true; changed: string[] } | { ok: false; errors: string[] };

/** Changes to the config in use; they run one at a time, in the order asked. */
export interface ConfigChanges {
  /** Re-reads the config file; on error returns the issues and keeps the running config. */
  reload(): Promise<ReloadOutcome>;
  /** Applies farms shared through the cluster over this node's own config; the error text when refused. */
  applySharedFarms(farms: readonly unknown[], revision: number): Promise<string | null>;
}

/** This node's backends and the operator's admin actions on them (the engine). */
export interface BackendAdmin {
  readonly config: Config;
  farmConfig(name: string): FarmConfig | undefined;
  adminOf(farm: FarmConfig, backend: string): AdminState;
  /** Resolves once the rules reflect it. */
  setAdmin(farm: string, backend: string, admin: AdminState): Promise<void>;
  /** The planned farms: what the rules in the kernel are built from. */
  desired(): DesiredState;
}

/** The engine as the cluster drives it: the backends it runs, the health it applies, admin changes. */
export interface BackendControl {
  /** One entry per backend (farm/backend) of the running config. */
  readonly runtime: ReadonlyMap<string, { readonly health: Health }>;
  readonly dataplane: { readonly lastApplyAt: number | null };
  farmConfig(name: string): FarmConfig | undefined;
  adminOf(farm: FarmConfig, backend: string): AdminState;
  setHealth(farm: string, backend: string, health: Health, reason: string): void;
  setAdmin(farm: string, backend: string, admin: AdminState): Promise<void>;
}

/** The engine as the drift check uses it: the dataplane to itself, the plan, and what it found. */
export interface DataplaneGuard {
  /** Runs `fn` after the transaction in flight and before the next one. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  desired(): DesiredState;
  readonly dataplane: { readonly lastError: string | null };
  /** What a look at the kernel found; the next apply says again. */
  setInSync(inSync: boolean): void;
}

/** Reads the applied rules back from the kernel (`agentctl rules`). */
export type RulesReader = Pick<Netfilter, 'driver' | 'appliedText' | 'verify'>;

/** The VRRP state this node follows from keepalived. */
export interface VrrpSource {
  readonly state: VrrpState;
  readonly since: number;
}

/** This node's own check verdicts (farm/backend keys) and why. */
export interface LocalVerdicts {
  readonly health: ReadonlyMap<string, Health>;
  reason(key: string): string | undefined;
}

/** Takes this node's verdicts while clustered: the cluster's policy decides what the engine applies. */
export interface HealthSink {
  /** The verdict of `key` in LocalVerdicts changed. */
  observe(key: string): void;
}

/** The cluster-wide actions (`agentctl backend`, `config push/diff`). */
export interface ClusterAdmin {
  connectedNow(): boolean;
  /** Cluster-wide unless `local`; rejects when disconnected and not `local`. */
  setAdmin(key: string, admin: AdminState, local: boolean): Promise<unknown>;
  pushConfig(farms: unknown[]): Promise<number>;
  sharedConfig(): Promise<SharedConfig | null>;
}

/** What a running cluster offers; main installs it where status, control and the checks read. */
export interface ClusterOffer {
  readonly view: ClusterView;
  readonly admin: ClusterAdmin;
  readonly health: HealthSink;
}

/** What a started service hands back to the daemon. */
export interface Service {
  stop(): Promise<void>;
  /**
   * Told of each config a reload or a cluster push puts in use, without being awaited: the
   * service orders and reports its own work.
   */
  reconfigure?(config: Config): void;
}

/** This node's BGP announcements as the operator drives them (`agentctl node drain|enable`). */
export interface NodeAnnouncements {
  readonly drained: boolean;
  setDrained(drained: boolean): Promise<void>;
  announced(): readonly string[];
  /** The `bgp` block of status. */
  status(): BgpStatus;
}

/** The ports of the control socket and its API. */
export interface ControlPorts {
  readonly status: StatusSource;
  readonly events: EventSource;
  readonly backends: BackendAdmin;
  readonly config: ConfigSource;
  readonly changes: Pick<ConfigChanges, 'reload'>;
  readonly rules: RulesReader;
  /** The cluster's actions while one runs; undefined standalone. */
  cluster(): ClusterAdmin | undefined;
  /** The BGP speaker while one runs (bgp section); absent or undefined otherwise. */
  bgp?(): NodeAnnouncements | undefined;
  readonly logger: Logger;
}

/** The ports of the metrics listener: /metrics, the status page and its JSON. */
export interface MetricsPorts {
  readonly status: StatusSource;
  readonly events: EventSource;
  /** The notify hooks' counters; absent, their metrics are not exported. */
  readonly notify?: { stats(): NotifyStats };
  /** Reads the kernel's over-limit counters of the planned farms; absent, their metrics are not exported. */
  readonly overLimits?: () => Promise<LimitCounts>;
  readonly logger: Logger;
}

/** The ports of the keepalived / conntrackd service. */
export interface VrrpPorts {
  readonly config: Pick<ConfigSource, 'config'>;
  /** Set from keepalived's notifications. */
  readonly vrrp: VrrpView;
  readonly logger: Logger;
}

/** The ports of the BGP speaker (agent/bgp): it announces a VIP while one of its farms has a
 * usable backend, so it follows the engine's events and reads the plan. */
export interface BgpPorts {
  readonly config: Pick<ConfigSource, 'config'>;
  readonly events: Pick<EventSource, 'on'>;
  desired(): DesiredState;
  readonly logger: Logger;
}

/** The ports of the cluster service. */
export interface ClusterPorts {
  readonly config: ConfigSource;
  readonly changes: Pick<ConfigChanges, 'applySharedFarms'>;
  readonly engine: BackendControl;
  readonly verdicts: LocalVerdicts;
  readonly vrrp: Pick<VrrpSource, 'state'>;
  readonly logger: Logger;
}
