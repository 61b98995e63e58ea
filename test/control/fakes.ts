// Fakes for the control tests: a planned status built by the real pure planner, and an in-memory
// ControlApi whose behaviour each test can change.

import type { AdminState } from '../../config/schema.js';
import { parseConfigText } from '../../config/load.js';
import { assignMarks, markKey } from '../../agent/plan/marks.js';
import { plan, type Health } from '../../agent/plan/plan.js';
import type { ControlApi } from '../../agent/control/api.js';
import { ControlError } from '../../agent/control/errors.js';
import type { EventRecord } from '../../agent/control/events.js';
import { buildStatus, type ClusterView, type Status, type StatusInput } from '../../agent/control/status.js';

export const CONFIG = `node: { id: lb1 }
farms:
  - name: web
    vip: 10.1.0.100
    ports: [80, "8000-8010"]
    backends:
      - { name: b1, ip: 10.2.0.11, port: 8080, weight: 1 }
      - { name: b2, ip: 10.2.0.12, port: 8080, weight: 2 }
      - { name: b3, ip: 10.2.0.13, port: 8080, weight: 3 }
  - name: dns
    vip: 10.1.0.101
    ports: [53]
    protocol: udp
    check: { type: none }
    backends:
      - { name: d1, ip: 10.2.0.21 }
`;

export interface FakeBackend {
  health: Health;
  admin: AdminState;
  lastCheck?: { ok: boolean; message: string; latencyMs: number; at: number };
}

export const NOW = Date.parse('2030-01-02T03:04:05.000Z');

/** A StatusInput from the sample config with the given per-backend views (`farm/backend` keys). */
export function sampleInput(views: Record<string, Partial<FakeBackend>> = {}, extra: Partial<StatusInput> = {}): StatusInput {
  const parsed = parseConfigText(CONFIG);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const config = parsed.config;
  const marks = assignMarks(config, { min: 0x200, max: 0x3fff }, new Map());
  const view = (farm: string, backend: string): FakeBackend => ({ health: 'up', admin: 'enabled', ...views[markKey(farm, backend)] });
  const desired = plan(config, marks, (f, b) => view(f, b));
  return {
    node: 'lb1', version: '9.9.9', now: NOW, startedAt: NOW - 125_000,
    vrrp: { state: 'MASTER', since: NOW - 60_000 },
    dataplane: { driver: 'iptables', inSync: true, lastError: null, applies: 7, applyErrors: 1, lastApplyMs: 12.3456, lastApplyAt: NOW - 1000, driftRepairs: 2 },
    farms: desired.farms,
    backend: (f, b) => ({ since: NOW - 5000, ...(view(f, b).lastCheck ? { lastCheck: view(f, b).lastCheck } : {}) }),
    ...extra,
  };
}

export const sampleStatus = (views: Record<string, Partial<FakeBackend>> = {}, extra: Partial<StatusInput> = {}): Status =>
  buildStatus(sampleInput(views, extra));

export const fakeCluster = (state: ClusterView['state'], peers: { node: string; vrrp: 'BACKUP' }[] = []): ClusterView => ({ state, peers: () => peers });

/** A ControlApi over a mutable status; `emit` pushes an event to followers. */
export class FakeApi implements ControlApi {
  views: Record<string, Partial<FakeBackend>> = {};
  history: EventRecord[] = [];
  reloadErrors: string[] | undefined;
  calls: string[] = [];
  /** Delays backend() so tests can hold a request in flight. */
  backendDelayMs = 0;
  private readonly listeners = new Set<(e: EventRecord) => void>();

  status(): Status {
    this.calls.push('status');
    return sampleStatus(this.views);
  }

  /** Set to make cluster-wide actions fail as when Redis is down. */
  clusterDown = false;
  pushed: unknown[][] = [];

  async backend(farm: string, backend: string, admin: AdminState, local = false) {
    this.calls.push(`backend ${farm}/${backend} ${admin}${local ? ' local' : ''}`);
    if (this.clusterDown && !local) throw new ControlError('cluster_unavailable', 'cluster disconnected (connect ECONNREFUSED); give --local to change this node only');
    if (farm !== 'web' && farm !== 'dns') throw new ControlError('unknown_farm', `unknown farm "${farm}" (farms: web, dns)`);
    await new Promise((r) => setTimeout(r, this.backendDelayMs));
    const from = this.views[`${farm}/${backend}`]?.admin ?? 'enabled';
    this.views[`${farm}/${backend}`] = { ...this.views[`${farm}/${backend}`], admin };
    this.emit({ at: new Date(NOW).toISOString(), type: 'admin', farm, backend, from, to: admin });
    return { farm, backend, from, admin, applied_ms: 3.5, in_chain: admin === 'enabled', share: admin === 'enabled' ? 0.5 : 0 };
  }

  async configPush(farms: readonly unknown[]) {
    if (this.clusterDown) throw new ControlError('cluster_unavailable', 'cluster disconnected: the config was not pushed');
    this.pushed.push([...farms]);
    return { revision: this.pushed.length + 6 };
  }

  async configDiff() {
    return { running_revision: 7, cluster_revision: 8, only_local: ['old'], only_cluster: ['new'], different: ['web'] };
  }

  async reload() {
    this.calls.push('reload');
    if (this.reloadErrors) throw new ControlError('config_invalid', `/etc/ha-agent/config.yaml has ${this.reloadErrors.length} errors; the running config is kept`, this.reloadErrors);
    return { changed: ['web'] };
  }

  async rules() {
    return { driver: 'iptables', text: '*mangle\nCOMMIT\n', in_sync: false, differences: ['mangle/HAM-web: 1 rules in the kernel, 2 applied'] };
  }

  events(n: number): EventRecord[] {
    return n <= 0 ? [] : this.history.slice(-n);
  }

  subscribe(listener: (e: EventRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get followers(): number {
    return this.listeners.size;
  }

  emit(event: EventRecord): void {
    this.history.push(event);
    for (const l of this.listeners) l(event);
  }
}
