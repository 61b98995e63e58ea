// The agent's Prometheus metrics. The per-backend families live in BackendSeries (plain numbers,
// written straight into the text, because at 10k backends prom-client series cost a second and
// a 20 MB string per scrape); the rest are prom-client metrics on their own Registry. Gauges are
// set from a Status at scrape time (the same data as `agentctl status`, so both agree);
// histograms and counters of checks, transitions and applies are fed by engine events as they
// happen. Conventions: a state is a `state` label with 1 on the current one (never a magic value
// such as -1), ratios end in `_ratio`, counters kept elsewhere are reported as they are.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineEvent } from '../engine/history.js';
import type { ClusterState, Status } from '../control/status.js';
import type { NotifyStats } from '../notify/hooks.js';
import { VRRP_STATES } from '../vrrp/state.js';
import { BgpMetrics } from './bgp.js';
import { driftRepairMetric } from './drift.js';
import { BackendSeries } from './backend-series.js';

export { upValue } from './backend-series.js';

/** Every member of the union T, spelled out: the compiler rejects a list that misses one. */
const every = <T extends string>() => <const A extends readonly T[]>(list: A & ([T] extends [A[number]] ? unknown : never)): A => list;
const CLUSTER_STATES = every<ClusterState>()(['connected', 'disconnected', 'disabled']);

const HOOK = ['hook', 'kind'] as const;
const APPLY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly info = this.gauge('ha_agent_info', 'The agent: 1, labelled with node, version and dataplane driver', ['node', 'version', 'driver']);
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
  private readonly notifyDelivered = this.counter('ha_agent_notify_delivered_total', 'Events a notify hook delivered', HOOK);
  private readonly notifyFailed = this.counter('ha_agent_notify_failed_total', 'Events a notify hook failed to deliver (exit status, timeout, HTTP error)', HOOK);
  private readonly notifyDropped = this.counter('ha_agent_notify_dropped_total', 'Events dropped unsent because the hook\'s queue was full', HOOK);
  private readonly notifyQueued = this.gauge('ha_agent_notify_queued', 'Events waiting in a notify hook\'s queue', HOOK);
  private readonly applyDuration = new Histogram({
    name: 'ha_agent_apply_duration_seconds', help: 'Duration of a rule transaction', buckets: APPLY_BUCKETS, registers: [this.registry],
  });
  private readonly bgp = new BgpMetrics(this.registry);

  private readonly backends = new BackendSeries();

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    driftRepairMetric.registerIn(this.registry);
  }

  observeApplyDuration(seconds: number): void {
    this.applyDuration.observe(seconds);
  }

  observe(event: EngineEvent): void {
    switch (event.type) {
      case 'check':
        this.backends.observeCheck(event.farm, event.backend, event.result.latencyMs / 1000, event.result.ok);
        return;
      case 'transition':
        this.backends.transition(event.farm, event.backend, event.to);
        return;
      case 'applied':
        this.observeApplyDuration(event.result.durationMs / 1000);
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
    return [...await this.scrapeParts(status, notify)].join('');
  }

  /**
   * The same text in parts, for a server to stream: prom-client's families first, then the
   * per-backend ones one farm at a time, produced as they are read.
   */
  async scrapeParts(status: Status, notify?: NotifyStats): Promise<Iterable<string>> {
    this.info.reset();
    this.info.set({ node: status.node, version: status.version, driver: status.dataplane.driver }, 1);
    this.backends.update(status.farms);
    for (const state of VRRP_STATES) this.vrrp.set({ state }, status.vrrp.state === state ? 1 : 0);
    this.inSync.set(status.dataplane.in_sync ? 1 : 0);
    for (const state of CLUSTER_STATES) this.clusterState.set({ state }, status.cluster.state === state ? 1 : 0);
    this.clusterPeers.set(status.cluster.peers.length);
    this.splitBrain.set(status.cluster.split_brain?.length ?? 0);
    this.adminDisagreements.set(status.cluster.admin_disagreements?.length ?? 0);
    this.bgp.set(status.bgp);
    setCounter(this.dataLosses, status.cluster.data_losses ?? 0);
    setCounter(this.applies, status.dataplane.applies);
    setCounter(this.applyErrors, status.dataplane.apply_errors);
    if (notify) this.setNotify(notify);
    const head = await this.registry.metrics();
    const backends = this.backends;
    return (function* parts() {
      yield head;
      yield* backends.chunks();
    })();
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
