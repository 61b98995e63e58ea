// Cluster sync: operator actions, health views, shared config and heartbeats through a
// PeerStore. Pub/sub notes only trigger reads; a full resync on every (re)connect catches up
// whatever was missed, and --local actions taken while Redis was away are pushed then.

import type { AdminState, ClusterConfig } from '../../config/schema.js';
import type { Logger } from '../log.js';
import type { Health } from '../plan/plan.js';
import type { VrrpState } from '../vrrp/state.js';
import { Coalesced } from './coalesce.js';
import { actionSchema, healthValue, heartbeatSchema, isBackendKey, noteSchema, parseValue, sharedConfigSchema, type Heartbeat, type Note, type SharedConfig } from './messages.js';
import { effectiveHealth, splitBrain, type PeerView } from './policy.js';
import type { PeerStore } from './store.js';

export interface ClusterHost {
  readonly node: string;
  readonly version: string;
  readonly virtualRouterId: number | null;
  vrrp(): VrrpState;
  /** This node's own probe results, farm/backend -> health. */
  localHealth(): ReadonlyMap<string, Health>;
  /** Known backends (farm/backend) of the running config: a Set, or a Map keyed by them. */
  backends(): BackendKeys;
  /** The health the engine applies now. */
  appliedHealth(key: string): Health | undefined;
  applyHealth(key: string, health: Health, reason: string): void;
  applyAdmin(key: string, admin: AdminState): Promise<void>;
  lastApply(): number | null;
  /** Applies a shared config; resolves with the error text when this node refuses it. */
  applySharedConfig(shared: SharedConfig): Promise<string | null>;
}

export interface BackendKeys {
  has(key: string): boolean;
  keys(): Iterable<string>;
}

export interface PeerStatus {
  readonly node: string;
  readonly vrrp: VrrpState;
  readonly ageMs: number;
  readonly configRevision: number;
  readonly configError: string | null;
}

export class ClusterSync {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly peers = new Map<string, { hb: Heartbeat; health: Map<string, Health> }>();
  private readonly appliedActions = new Map<string, number>();
  /** Actions taken with --local while disconnected: pushed on reconnect, none lost. */
  private readonly pendingLocal = new Map<string, AdminState>();
  private configRevision = 0;
  private configError: string | null = null;
  private stopped = false;
  /**
   * Every note, heartbeat and resync asks for a read; a burst of them runs one read now and at
   * most one more after it, never two at once racing on `peers` or applying one revision twice.
   */
  private readonly peersRead = new Coalesced(() => this.readPeers());
  private readonly actionsRead = new Coalesced(() => this.followActions());
  private readonly configRead = new Coalesced(() => this.followConfig());
  splitBrains = new Map<number, string[]>();
  lastError: string | null = null;

  constructor(private readonly store: PeerStore, private readonly cluster: ClusterConfig, private readonly host: ClusterHost, private readonly logger: Logger) {}

  connectedNow(): boolean {
    return this.store.connected;
  }

  async start(): Promise<void> {
    this.store.onConnected(() => void this.resync().catch((err: Error) => this.logger.warn({ err: err.message }, 'cluster resync failed')));
    this.store.onDisconnected((reason) => {
      this.lastError = reason;
      this.logger.warn({ reason }, 'cluster disconnected: checking and applying locally until Redis returns');
      this.recomputeAll();
    });
    // A Redis error or a failed apply while following a note must not become an unhandled
    // rejection (which exits the agent): the next note or resync tries again.
    this.store.onNote((raw) => void this.handleNote(raw).catch((err: Error) => this.logger.warn({ err: err.message }, 'cluster note handling failed')));
    this.heartbeatTimer = setInterval(() => void this.beat(), this.cluster.heartbeat);
    try {
      await this.store.connect();
    } catch (err) {
      // ioredis rejects with "Connection is closed."; the reason (WRONGPASS, ECONNREFUSED) came as an error event.
      this.lastError = this.store.lastError ?? (err as Error).message;
      const auth = /WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username/i.test(this.lastError);
      this.logger.error({ err: this.lastError }, auth
        ? `cluster: Redis refused the credentials (${this.lastError}); running standalone`
        : `cluster: Redis unreachable (${this.lastError}); running standalone and retrying`);
      if (auth) await this.store.close();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    await this.store.close();
  }

  /** An operator action; cluster-wide unless `local`. */
  async setAdmin(key: string, admin: AdminState, local: boolean): Promise<{ revision: number | null }> {
    if (!this.store.connected) {
      if (!local) throw new Error(`cluster disconnected (${this.lastError ?? 'Redis unreachable'}); give --local to change this node only`);
      this.pendingLocal.set(key, admin);
      await this.host.applyAdmin(key, admin);
      return { revision: null };
    }
    const revision = await this.writeAction(key, admin);
    await this.host.applyAdmin(key, admin);
    return { revision };
  }

  /** This node's probe changed its view of a backend. */
  observe(key: string): void {
    const health = this.host.localHealth().get(key) ?? 'unknown';
    if (this.store.connected) {
      void this.store.hsetAndPublish(this.store.keys.health(this.host.node), key, health, JSON.stringify({ type: 'health', node: this.host.node }))
        .catch(() => undefined);
    }
    this.recompute(key);
  }

  peerList(now = Date.now()): PeerStatus[] {
    return [...this.peers.values()].map(({ hb }) => ({
      node: hb.node, vrrp: hb.vrrp, ageMs: Math.max(0, now - hb.at), configRevision: hb.config_revision, configError: hb.config_error,
    }));
  }

  /** Every live node's view of one backend (this node's included). */
  views(key: string): Record<string, Health> {
    const out: Record<string, Health> = { [this.host.node]: this.host.localHealth().get(key) ?? 'unknown' };
    for (const [node, peer] of this.peers) out[node] = peer.health.get(key) ?? 'unknown';
    return out;
  }

  /**
   * The latest shared config revision this node considered, applied or refused (configError
   * says which): newer ones only are followed. What runs is the daemon's sharedRevision().
   */
  get revision(): number {
    return this.configRevision;
  }

  /** The shared config revision this node already runs (kept across restarts). */
  startFromRevision(rev: number): void {
    this.configRevision = Math.max(this.configRevision, rev);
  }

  async pushConfig(farms: unknown[]): Promise<number> {
    if (!this.store.connected) throw new Error(`cluster disconnected (${this.lastError ?? 'Redis unreachable'}): the config was not pushed`);
    const rev = await this.store.nextRevision();
    const shared: SharedConfig = { rev, node: this.host.node, at: Date.now(), farms };
    await this.store.set(this.store.keys.config, JSON.stringify(shared));
    await this.store.publish(JSON.stringify({ type: 'config', node: this.host.node, rev }));
    await this.configRead.request();
    return rev;
  }

  async sharedConfig(): Promise<SharedConfig | null> {
    if (!this.store.connected) return null;
    const parsed = parseValue(sharedConfigSchema, await this.store.get(this.store.keys.config));
    return parsed.ok ? parsed.value : null;
  }

  private async writeAction(key: string, admin: AdminState): Promise<number> {
    const rev = await this.store.nextRevision();
    await this.store.hsetAndPublish(this.store.keys.actions, key, JSON.stringify({ admin, rev, node: this.host.node, at: Date.now() }),
      JSON.stringify({ type: 'action', node: this.host.node, rev }));
    this.appliedActions.set(key, rev);
    return rev;
  }

  private async handleNote(raw: string): Promise<void> {
    const note = parseValue(noteSchema, raw);
    if (!note.ok) return this.reject('note', note.reason);
    const n: Note = note.value;
    if (n.node === this.host.node) return;
    // A peer announces its view before its actions (see resync): follow an action only after
    // the refresh that announcement started, so the action is applied with that view known.
    if (n.type === 'action') {
      await this.peersRead.settled();
      await this.actionsRead.request();
    }
    else if (n.type === 'health' || n.type === 'heartbeat') await this.peersRead.request();
    else if (n.type === 'config') await this.configRead.request();
  }

  /**
   * After every (re)connect: push what happened while away, then read everything back. This
   * node's health and heartbeat go first (a peer counts only nodes with a live heartbeat),
   * announced, so a peer that follows the actions pushed next already has this node's view of
   * the backends they touch.
   */
  private async resync(): Promise<void> {
    await this.store.hsetMany(this.store.keys.health(this.host.node), Object.fromEntries(this.host.localHealth()));
    await this.store.setHeartbeat(this.host.node, JSON.stringify(this.heartbeat()), this.cluster.heartbeat_ttl);
    await this.store.publish(JSON.stringify({ type: 'health', node: this.host.node }));
    for (const [key, admin] of this.pendingLocal) await this.writeAction(key, admin);
    this.pendingLocal.clear();
    await this.peersRead.request();
    await this.actionsRead.request();
    await this.configRead.request();
    this.logger.info({ peers: this.peers.size, revision: this.configRevision }, 'cluster connected and resynchronised');
  }

  private async followActions(): Promise<void> {
    const all = await this.store.hgetall(this.store.keys.actions);
    const known = this.host.backends();
    for (const [key, raw] of Object.entries(all)) {
      if (!isBackendKey(key)) { this.reject('action', `bad field ${JSON.stringify(key.slice(0, 64))}`); continue; }
      const action = parseValue(actionSchema, raw);
      if (!action.ok) { this.reject(`action ${key}`, action.reason); continue; }
      if (!known.has(key)) continue;
      if (action.value.rev <= (this.appliedActions.get(key) ?? 0)) continue;
      this.appliedActions.set(key, action.value.rev);
      await this.host.applyAdmin(key, action.value.admin);
    }
  }

  private async followConfig(): Promise<void> {
    const raw = await this.store.get(this.store.keys.config);
    if (raw === null) return;
    const shared = parseValue(sharedConfigSchema, raw);
    if (!shared.ok) return this.reject('config', shared.reason);
    if (shared.value.rev <= this.configRevision) return;
    const error = await this.host.applySharedConfig(shared.value);
    this.configRevision = shared.value.rev;
    this.configError = error;
    if (error) this.logger.error({ revision: shared.value.rev, error }, `cluster config revision ${shared.value.rev} refused; keeping the running config`);
    else this.logger.info({ revision: shared.value.rev, from: shared.value.node }, `cluster config revision ${shared.value.rev} applied`);
    await this.beat();
  }

  private async beat(): Promise<void> {
    if (this.stopped || !this.store.connected) return;
    try {
      await this.store.setHeartbeat(this.host.node, JSON.stringify(this.heartbeat()), this.cluster.heartbeat_ttl);
      await this.peersRead.request();
    } catch (err) {
      this.lastError = (err as Error).message;
    }
  }

  private heartbeat(): Heartbeat {
    return {
      node: this.host.node, version: this.host.version, vrrp: this.host.vrrp(), virtual_router_id: this.host.virtualRouterId,
      config_revision: this.configRevision, config_error: this.configError, last_apply: this.host.lastApply(), at: Date.now(),
    };
  }

  private async readPeers(): Promise<void> {
    const all: Heartbeat[] = [];
    for (const raw of await this.store.heartbeats()) {
      const hb = parseValue(heartbeatSchema, raw);
      if (hb.ok) all.push(hb.value);
      else this.reject('heartbeat', hb.reason);
    }
    const others = all.filter((hb) => hb.node !== this.host.node);
    const healths = await Promise.all(others.map((hb) => this.store.hgetall(this.store.keys.health(hb.node))));
    const seen = new Set<string>();
    others.forEach((hb, i) => {
      seen.add(hb.node);
      const health = new Map<string, Health>();
      for (const [key, value] of Object.entries(healths[i]!)) {
        const h = healthValue.safeParse(value);
        if (isBackendKey(key) && h.success) health.set(key, h.data);
        else this.reject(`health of ${hb.node}`, `bad entry ${JSON.stringify(key.slice(0, 64))}`);
      }
      this.peers.set(hb.node, { hb, health });
    });
    for (const node of [...this.peers.keys()]) if (!seen.has(node)) this.peers.delete(node);
    this.reportSplitBrain(all);
    this.recomputeAll();
  }

  private reportSplitBrain(all: Heartbeat[]): void {
    const now = splitBrain(all.map((h) => ({ node: h.node, vrrp: h.node === this.host.node ? this.host.vrrp() : h.vrrp, virtual_router_id: h.virtual_router_id })));
    for (const [vrid, nodes] of now) {
      if (!this.splitBrains.has(vrid)) this.logger.error({ virtual_router_id: vrid, masters: nodes }, `split brain: ${nodes.join(' and ')} are all MASTER of virtual router ${vrid}`);
    }
    for (const vrid of this.splitBrains.keys()) if (!now.has(vrid)) this.logger.info({ virtual_router_id: vrid }, 'split brain over');
    this.splitBrains = now;
  }

  private peerViews(): PeerView[] {
    return [...this.peers.values()].map((p) => ({ node: p.hb.node, vrrp: p.hb.vrrp, health: p.health }));
  }

  private recompute(key: string, peers = this.store.connected ? this.peerViews() : []): void {
    const input = { policy: this.cluster.health_policy, selfVrrp: this.host.vrrp(), local: this.host.localHealth(), peers };
    const health = effectiveHealth(input, key);
    if (health === this.host.appliedHealth(key)) return;
    const own = this.host.localHealth().get(key) ?? 'unknown';
    const reason = health === own ? 'own checks' : `${this.cluster.health_policy} policy: ${Object.entries(this.views(key)).map(([n, h]) => `${n} ${h}`).join(', ')}`;
    this.host.applyHealth(key, health, reason);
  }

  private recomputeAll(): void {
    const peers = this.store.connected ? this.peerViews() : [];
    for (const key of this.host.backends().keys()) this.recompute(key, peers);
  }

  private reject(what: string, reason: string): void {
    this.logger.warn({ what, reason }, `ignored invalid ${what} from Redis: ${reason}`);
  }
}
