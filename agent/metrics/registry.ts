// The agent's Prometheus metrics on their own Registry. Gauges are set from a Status at scrape
// time (the same data as `agentctl status`, so both agree); histograms and counters of checks,
// transitions and applies are fed by engine events as they happen.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ADMIN_STATES } from '../../config/schema.js';
import type { EngineEvent } from '../engine/history.js';
import type { Status } from '../control/status.js';
import { VRRP_STATES } from '../vrrp/state.js';
import type { Health } from '../plan/plan.js';
import { markKey } from '../plan/marks.js';

/** -1 marks "not known yet", so a dashboard can tell it from down. */
export function upValue(health: Health): number {
  switch (health) {
    case 'up': return 1;
    case 'down': return 0;
    case 'unknown': return -1;
    default: {
      const never: never = health;
      throw new Error(`unknown health ${String(never)}`);
    }
  }
}

const BACKEND = ['farm', 'backend'] as const;
const CHECK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const APPLY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly info = this.gauge('ha_agent_info', 'The agent: 1, labelled with node, version and dataplane driver', ['node', 'version', 'driver']);
  private readonly up = this.gauge('ha_agent_backend_up', 'Backend health: 1 up, 0 down, -1 unknown', BACKEND);
  private readonly admin = this.gauge('ha_agent_backend_admin_state', 'Operator admin state: 1 for the current state', [...BACKEND, 'state']);
  private readonly share = this.gauge('ha_agent_backend_share', 'Fraction of new connections the backend receives now (0 when not in the chain)', BACKEND);
  private readonly inChain = this.gauge('ha_agent_backend_in_chain', '1 when the backend is in its farm\'s MARK chain', BACKEND);
  private readonly weight = this.gauge('ha_agent_backend_effective_weight', 'Weight used now (lower while slow start ramps)', BACKEND);
  private readonly inSync = this.gauge('ha_agent_dataplane_in_sync', '1 when the kernel holds the rules the agent applied', []);
  private readonly vrrp = this.gauge('ha_agent_vrrp_state', 'VRRP state of this node: 1 for the current state', ['state']);
  private readonly clusterConnected = this.gauge('ha_agent_cluster_connected', '1 when connected to the cluster store (0 when disconnected or standalone)', []);
  private readonly clusterPeers = this.gauge('ha_agent_cluster_peers', 'Peers seen in the cluster', []);
  private readonly adminDisagreements = this.gauge('ha_agent_cluster_admin_disagreements',
    'Backends whose nodes have applied different admin states for longer than a resync (alert when above 0)', []);
  private readonly dataLosses = this.counter('ha_agent_cluster_store_data_losses_total', 'Times the cluster store was found to have lost its data (a new epoch)', []);
  private readonly applies = this.counter('ha_agent_applies_total', 'Rule transactions applied', []);
  private readonly applyErrors = this.counter('ha_agent_apply_errors_total', 'Rule transactions that failed (the kernel kept the previous rules)', []);
  private readonly driftRepairs = this.counter('ha_agent_drift_repairs_total', 'Times the kernel rules had drifted and were rewritten', []);
  private readonly checkFailures = this.counter('ha_agent_check_failures_total', 'Health checks that failed', BACKEND);
  private readonly transitions = this.counter('ha_agent_backend_transitions_total', 'Health transitions, by new state', [...BACKEND, 'to']);
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

  /** Sets the gauges from `status` and renders the text exposition format. */
  async scrape(status: Status): Promise<string> {
    for (const g of [this.info, this.up, this.admin, this.share, this.inChain, this.weight, this.vrrp]) g.reset();
    this.info.set({ node: status.node, version: status.version, driver: status.dataplane.driver }, 1);
    const live = new Set<string>();
    for (const farm of status.farms) {
      for (const b of farm.backends) {
        const labels = { farm: farm.name, backend: b.name };
        live.add(markKey(farm.name, b.name));
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
    this.clusterConnected.set(status.cluster.state === 'connected' ? 1 : 0);
    this.clusterPeers.set(status.cluster.peers.length);
    this.adminDisagreements.set(status.cluster.admin_disagreements?.length ?? 0);
    setCounter(this.dataLosses, status.cluster.data_losses ?? 0);
    setCounter(this.applies, status.dataplane.applies);
    setCounter(this.applyErrors, status.dataplane.apply_errors);
    setCounter(this.driftRepairs, status.dataplane.drift_repairs);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
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
