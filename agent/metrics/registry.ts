// The agent's Prometheus metrics on their own Registry. Gauges are set from a Status at scrape
// time (the same data as `agentctl status`, so both agree); histograms and counters of checks,
// transitions and applies are fed by engine events as they happen. Conventions: a state is a
// `state` label with 1 on the current one (never a magic value such as -1), ratios end in
// `_ratio`, counters kept elsewhere are reported as they are.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ADMIN_STATES } from '../../config/schema.js';
import type { EngineEvent } from '../engine/history.js';
import type { ClusterState, Status } from '../control/status.js';
import type { NotifyStats } from '../notify/hooks.js';
import { VRRP_STATES } from '../vrrp/state.js';
import type { Health } from '../plan/plan.js';
import { markKey } from '../plan/marks.js';

/** 1 while `health` is up; 0 when down or not known yet (ha_agent_backend_health tells those apart). */
export function upValue(health: Health): number {
  switch (health) {
    case 'up': return 1;
    case 'down':
    case 'unknown': return 0;
    default: {
      const never: never = health;
      throw new Error(`unknown health ${String(never)}`);
    }
  }
}

/** Every member of the union T, spelled out: the compiler rejects a list that misses one. */
const every = <T extends string>() => <const A extends readonly T[]>(list: A & ([T] extends [A[number]] ? unknown : never)): A => list;
const HEALTHS = every<Health>()(['up', 'down', 'unknown']);
const CLUSTER_STATES = every<ClusterState>()(['connected', 'disconnected', 'disabled']);

const BACKEND = ['farm', 'backend'] as const;
const HOOK = ['hook', 'kind'] as const;
const CHECK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const APPLY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly info = this.gauge('ha_agent_info', 'The agent: 1, labelled with node, version and dataplane driver', ['node', 'version', 'driver']);
  private readonly health = this.gauge('ha_agent_backend_health', 'Backend health: 1 for the current state (up, down, or unknown before the first verdict)', [...BACKEND, 'state']);
  private readonly up = this.gauge('ha_agent_backend_up', 'Backend health: 1 up; 0 down or not known yet (see ha_agent_backend_health)', BACKEND);
  private readonly admin = this.gauge('ha_agent_backend_admin_state', 'Operator admin state: 1 for the current state', [...BACKEND, 'state']);
  private readonly share = this.gauge('ha_agent_backend_share_ratio', 'Fraction of new connections the backend receives now (0 when not in the chain)', BACKEND);
  private readonly inChain = this.gauge('ha_agent_backend_in_chain', '1 when the backend is in its farm\'s MARK chain', BACKEND);
  private readonly weight = this.gauge('ha_agent_backend_effective_weight', 'Weight used now (lower while slow start ramps)', BACKEND);
  private readonly inSync = this.gauge('ha_agent_dataplane_in_sync', '1 when the kernel holds the rules the agent applied', []);
  private readonly vrrp = this.gauge('ha_agent_vrrp_state', 'VRRP state of this node: 1 for the current state', ['state']);
  private readonly clusterState = this.gauge('ha_agent_cluster_state', 'Cluster store connection: 1 for the current state (disabled: standalone, no cluster configured)', ['state']);
  private readonly clusterPeers = this.gauge('ha_agent_cluster_peers', 'Peers seen in the cluster', []);
  private readonly adminDisagreements = this.gauge('ha_agent_cluster_admin_disagreements',
    'Backends whose nodes have applied different admin states for longer than a resync (alert when above 0)', []);
  private readonly splitBrain = this.gauge('ha_agent_cluster_split_brain', 'Virtual routers that more than one live node claims as MASTER now (alert when above 0)', []);
  private readonly dataLosses = this.counter('ha_agent_cluster_store_data_losses_total', 'Times the cluster store was found to have lost its data (a new epoch)', []);
  private readonly applies = this.counter('ha_agent_applies_total', 'Rule transactions applied', []);
  private readonly applyErrors = this.counter('ha_agent_apply_errors_total', 'Rule transactions that failed (the kernel kept the previous rules)', []);
  private readonly driftRepairs = this.counter('ha_agent_drift_repairs_total', 'Times the kernel rules had drifted and were rewritten', []);
  private readonly checkFailures = this.counter('ha_agent_check_failures_total', 'Health checks that failed', BACKEND);
  private readonly transitions = this.counter('ha_agent_backend_transitions_total', 'Health transitions, by new state', [...BACKEND, 'to']);
  private readonly notifyDelivered = this.counter('ha_agent_notify_delivered_total', 'Events a notify hook delivered', HOOK);
  private readonly notifyFailed = this.counter('ha_agent_notify_failed_total', 'Events a notify hook failed to deliver (exit status, timeout, HTTP error)', HOOK);
  private readonly notifyDropped = this.counter('ha_agent_notify_dropped_total', 'Events dropped unsent because the hook\'s queue was full', HOOK);
  private readonly notifyQueued = this.gauge('ha_agent_notify_queued', 'Events waiting in a notify hook\'s queue', HOOK);
  private readonly checkDuration = new Histogram({
    name: 'ha_agent_check_duration_seconds', help: 'Health check duration', labelNames: BACKEND, buckets: CHECK_BUCKETS, registers: [this.registry],
  });
  private readonly applyDuration = new Histogram({
    name: 'ha_agent_apply_duration_seconds', help: 'Duration of a rule transaction', buckets: APPLY_BUCKETS, registers: [this.registry],
  });

  /** Backends (farm/backend) that may have counter or histogram series: pruning reads the
   * metrics back only when one of them is no longer in the status, not on every scrape. */
  private readonly withSeries = new Set<string>();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  observe(event: EngineEvent): void {
    switch (event.type) {
      case 'check': {
        const labels = { farm: event.farm, backend: event.backend };
        this.withSeries.add(markKey(event.farm, event.backend));
        this.checkDuration.observe(labels, event.result.latencyMs / 1000);
        if (!event.result.ok) this.checkFailures.inc(labels);
        return;
      }
      case 'transition':
        this.withSeries.add(markKey(event.farm, event.backend));
        this.transitions.inc({ farm: event.farm, backend: event.backend, to: event.to });
        return;
      case 'applied':
        this.applyDuration.observe(event.result.durationMs / 1000);
        return;
      case 'admin':
      case 'apply-error':
        return; // admin state and error counts are read from the status at scrape time
      default: {
        const never: never = event;
        throw new Error(`unknown event ${JSON.stringify(never)}`);
      }
    }
  }

  /** Sets the gauges from `status` (and the notify hooks' counters) and renders the text exposition format. */
  async scrape(status: Status, notify?: NotifyStats): Promise<string> {
    for (const g of [this.info, this.health, this.up, this.admin, this.share, this.inChain, this.weight, this.vrrp]) g.reset();
    this.info.set({ node: status.node, version: status.version, driver: status.dataplane.driver }, 1);
    const live = new Set<string>();
    for (const farm of status.farms) {
      for (const b of farm.backends) {
        const labels = { farm: farm.name, backend: b.name };
        live.add(markKey(farm.name, b.name));
        for (const state of HEALTHS) this.health.set({ ...labels, state }, b.health === state ? 1 : 0);
        this.up.set(labels, upValue(b.health));
        for (const state of ADMIN_STATES) this.admin.set({ ...labels, state }, b.admin === state ? 1 : 0);
        this.share.set(labels, b.share);
        this.inChain.set(labels, b.in_chain ? 1 : 0);
        this.weight.set(labels, b.effective_weight);
        this.checkFailures.inc(labels, 0); // every backend has the series, even before a failure
      }
    }
    for (const key of live) this.withSeries.add(key);
    const removed = [...this.withSeries].filter((key) => !live.has(key));
    if (removed.length > 0) await this.forgetRemoved(new Set(removed));
    for (const state of VRRP_STATES) this.vrrp.set({ state }, status.vrrp.state === state ? 1 : 0);
    this.inSync.set(status.dataplane.in_sync ? 1 : 0);
    for (const state of CLUSTER_STATES) this.clusterState.set({ state }, status.cluster.state === state ? 1 : 0);
    this.clusterPeers.set(status.cluster.peers.length);
    this.splitBrain.set(status.cluster.split_brain?.length ?? 0);
    this.adminDisagreements.set(status.cluster.admin_disagreements?.length ?? 0);
    setCounter(this.dataLosses, status.cluster.data_losses ?? 0);
    setCounter(this.applies, status.dataplane.applies);
    setCounter(this.applyErrors, status.dataplane.apply_errors);
    setCounter(this.driftRepairs, status.dataplane.drift_repairs);
    if (notify) this.setNotify(notify);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Per hook of the running config, labelled with its place in `notify` and its kind. A hook a
   * reload removes loses its series (Prometheus reads that as the end of the counter); the
   * agent-wide totals in NotifyStats keep counting it.
   */
  private setNotify(stats: NotifyStats): void {
    for (const metric of [this.notifyDelivered, this.notifyFailed, this.notifyDropped, this.notifyQueued]) metric.reset();
    for (const hook of stats.hooks) {
      const labels = { hook: String(hook.index), kind: hook.kind };
      this.notifyDelivered.inc(labels, hook.delivered);
      this.notifyFailed.inc(labels, hook.failed);
      this.notifyDropped.inc(labels, hook.dropped);
      this.notifyQueued.set(labels, hook.queued);
    }
  }

  /** Backends gone after a reload lose their series instead of reporting stale values forever. */
  private async forgetRemoved(removed: ReadonlySet<string>): Promise<void> {
    // Dropped first: an event arriving while the metrics are read marks its backend again.
    for (const key of removed) this.withSeries.delete(key);
    for (const metric of [this.checkFailures, this.transitions, this.checkDuration]) {
      const data = await metric.get();
      for (const value of data.values) {
        const { farm, backend, le: _bucket, ...rest } = value.labels as Record<string, string>;
        if (farm !== undefined && backend !== undefined && removed.has(markKey(farm, backend))) metric.remove({ farm, backend, ...rest });
      }
    }
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }
}

/** A counter whose total is kept elsewhere (engine, drift watch): reported as is. */
function setCounter(counter: Counter, value: number): void {
  counter.reset();
  counter.inc(value);
}
