// Cluster sync: operator actions, health and admin views, shared config and heartbeats through a
// PeerStore. Pub/sub notes only trigger reads; a full resync on every (re)connect catches up
// whatever was missed, and --local actions taken while Redis was away are pushed then. Redis may
// forget (a restart without persistence, a lagging replica promoted, FLUSHALL, eviction): every
// node keeps the latest action it knows per backend and republishes it on each resync and when
// the store's epoch changes, and revisions never go backwards (order.ts), so the last action an
// operator took wins on every node.

import type { AdminState, ClusterConfig } from '../../config/schema.js';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Health } from '../plan/plan.js';
import type { VrrpState } from '../vrrp/state.js';
import { Coalesced } from './coalesce.js';
import { ActionBook, type ActionJournal } from './action-book.js';
import { AdminAgreement, type AdminViews, type Disagreement } from './admin-views.js';
import { actionSchema, isBackendKey, noteSchema, parseValue, sharedConfigSchema, type Heartbeat, type Note, type SharedConfig } from './messages.js';
import { readPeerEntries, type PeerEntry } from './peers.js';
import { localRevision, plausibleRevision } from './order.js';
import { effectiveHealth, type PeerView } from './policy.js';
import { SplitBrainWatch } from './split-brain.js';
import type { PeerStore } from './store.js';

export type { ActionJournal } from './action-book.js';

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
  /** The admin state the engine applies now (an operator's, else the config's). */
  appliedAdmin(key: string): AdminState | undefined;
  lastApply(): number | null;
  /** Applies a shared config; resolves with the error text when this node refuses it. */
  applySharedConfig(shared: SharedConfig): Promise<string | null>;
  /** The shared config this node runs, to republish when the store lost it; null when none. */
  runningShared(): Promise<SharedConfig | null>;
  /** Where the latest known action per backend is kept across restarts. */
  readonly journal: ActionJournal;
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

const RESYNC_RETRY_MS = 500;
const RESYNC_RETRY_MAX_MS = 10_000;

export class ClusterSync {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly peers = new Map<string, PeerEntry>();
  /** The latest action this node knows per backend: followed only when newer, republished after a loss. */
  private readonly actions: ActionBook;
  /** The store's epoch as last seen. */
  private epoch: string | undefined;
  /** Times the store was found to have lost its data (a new epoch). */
  dataLosses = 0;
  private readonly agreement: AdminAgreement;
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
  /** Heartbeats stop counting after 2.5 beats unchanged (1 s at least); two masters are reported after 3 beats (1.5 s at least). */
  private readonly splitBrainWatch: SplitBrainWatch;
  lastError: string | null = null;

  /** A resync that failed is tried again after this long (doubling up to RESYNC_RETRY_MAX_MS). */
  private resyncRetryMs = RESYNC_RETRY_MS;
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: PeerStore,
    private readonly cluster: ClusterConfig,
    private readonly host: ClusterHost,
    private readonly logger: Logger,
    /** The wall clock revisions are stamped with (a parameter, so tests can skew it). */
    private readonly now: () => number = Date.now,
  ) {
    this.actions = new ActionBook(host.journal, logger, now);
    // Views may differ while an action travels and until the peers' next read; longer is a fault.
    this.agreement = new AdminAgreement(Math.max(2 * cluster.heartbeat, 1000));
    // Floors in ms: with short heartbeats a peer's event loop stalling for a few beats would
    // otherwise end and restart a real split brain's report.
    this.splitBrainWatch = new SplitBrainWatch(host.node, Math.max(2.5 * cluster.heartbeat, 1000), Math.max(3 * cluster.heartbeat, 1500));
  }

  connectedNow(): boolean {
    return this.store.connected;
  }

  async start(): Promise<void> {
    await this.actions.load();
    this.store.onConnected(() => {
      // A new connection starts a new series: failures on an older one (a resync cut by the
      // outage) must not leave it waiting out their backoff before it catches up.
      this.resyncRetryMs = RESYNC_RETRY_MS;
      this.scheduleResync(0);
    });
    this.store.onDisconnected((reason) => {
      this.lastError = reason;
      this.logger.warn({ reason }, 'cluster disconnected: checking and applying locally until Redis returns');
      this.agreement.clear();
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
    clearTimeout(this.resyncTimer);
    await this.store.close();
    await this.actions.settled();
  }

  /** An operator action; cluster-wide unless `local`. */
  async setAdmin(key: string, admin: AdminState, local: boolean): Promise<{ revision: number | null }> {
    const at = this.now();
    if (!this.store.connected) {
      if (!local) throw new Error(`cluster disconnected (${this.lastError ?? 'Redis unreachable'}); give --local to change this node only`);
      // Stamped now, so on reconnect it wins only over actions taken before it.
      this.actions.own(key, { admin, rev: localRevision(this.floor(), at), node: this.host.node, at }, true);
      await this.host.applyAdmin(key, admin);
      return { revision: null };
    }
    let rev: number;
    try {
      rev = await this.store.newAction(key, { admin, node: this.host.node, at }, this.floor(), at);
    } catch (err) {
      // Redis answered with an error (an ACL, a revision out of range): said as it is.
      if ((err as Error).name === 'ReplyError') throw err;
      // Unanswered (a silent partition, Redis gone mid-call): refused, as when disconnected, and
      // promptly (the store's command timeout); the operator can take it --local.
      const reason = (err as Error).message;
      throw new Error(`cluster disconnected (${reason}): the action was not applied (had Redis received it, it reaches every node, this one too, once connected again); give --local to change this node only`);
    }
    this.actions.own(key, { admin, rev, node: this.host.node, at }, false);
    await this.host.applyAdmin(key, admin);
    this.announceAdmin(key);
    return { revision: rev };
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

  /** The admin state each live node applies to one backend (peers that did not say are left out). */
  adminViews(key: string): AdminViews {
    const own = this.host.appliedAdmin(key);
    const out: Record<string, AdminState> = own ? { [this.host.node]: own } : {};
    for (const [node, peer] of this.peers) {
      const admin = peer.admin.get(key);
      if (admin) out[node] = admin;
    }
    return out;
  }

  /** Backends whose nodes have disagreed on the admin state for longer than a resync. */
  adminDisagreements(): Disagreement[] {
    return this.agreement.lastingNow();
  }

  /** Disagreements that outlasted a resync since start. */
  get adminDisagreementsTotal(): number {
    return this.agreement.total;
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
    const at = this.now();
    const rev = await this.store.newConfig({ node: this.host.node, at, farms }, this.floor(), at);
    this.actions.see(rev);
    await this.configRead.request();
    return rev;
  }

  async sharedConfig(): Promise<SharedConfig | null> {
    if (!this.store.connected) return null;
    const parsed = parseValue(sharedConfigSchema, await this.store.get(this.store.keys.config));
    return parsed.ok ? parsed.value : null;
  }

  /** Revisions this node hands out start above this. */
  private floor(): number {
    return Math.max(this.actions.highestSeen, this.configRevision);
  }

  /** Tells the peers which admin state this node applies to a backend now. */
  private announceAdmin(key: string): void {
    const admin = this.host.appliedAdmin(key);
    if (!admin || !this.store.connected) return;
    void this.store.hsetAndPublish(this.store.keys.admin(this.host.node), key, admin, JSON.stringify({ type: 'health', node: this.host.node }))
      .catch(() => undefined);
    this.evaluateAgreement();
  }

  /**
   * Writes every action this node knows back, each only over an older one: --local actions
   * taken while away, and, after the store lost its data, the cluster's state as this node
   * holds it. The running shared config likewise.
   */
  private async republish(): Promise<void> {
    const now = this.now();
    const writes = this.actions.entries().map(async ([key, action, pending]) => {
      const result = await this.store.putActionIfNewer(key, action, now);
      this.actions.replayed(key);
      if (pending && result === 'newer-there') {
        this.logger.warn({ key, admin: action.admin }, `the --local ${action.admin} of ${key} was superseded by a later action in the cluster`);
      }
    });
    const shared = await this.host.runningShared();
    if (shared) writes.push(this.store.putConfigIfNewer(shared, now).then(() => undefined));
    // Each write on its own: one refused (a key of the wrong type, say) does not stop the rest.
    const failed = (await Promise.allSettled(writes)).filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0) throw new Error(`republishing failed for ${failed.length} of ${writes.length} writes: ${(failed[0]!.reason as Error).message}`);
  }

  /** This node's admin state of every backend, written whole (after a reload, a loss, a fault). */
  private async writeOwnAdmin(): Promise<void> {
    await this.store.hsetMany(this.store.keys.admin(this.host.node), this.ownAdmin());
    await this.store.publish(JSON.stringify({ type: 'health', node: this.host.node }));
  }

  /** The config in use changed (reload, shared push): its admin states and backends may have too. */
  reconfigured(): void {
    if (!this.store.connected) return;
    void this.writeOwnAdmin()
      .then(() => this.actionsRead.request())
      .catch((err: Error) => this.logger.warn({ err: err.message }, 'announcing the admin states after a reload failed'));
  }

  /**
   * What this node writes as the epoch if the store has none: new each time, so an emptied
   * store never hands back the epoch this node remembers.
   */
  private epochCandidate(): string {
    return `${this.host.node}-${Date.now()}-${randomBytes(6).toString('hex')}`;
  }

  /** Whether `epoch` says the store lost its data since this node last looked (first sight: no). */
  private isNewEpoch(epoch: string): boolean {
    return this.epoch !== undefined && this.epoch !== epoch;
  }

  /**
   * A resync now or after `delayMs`, retried with backoff while it fails (a refused script, a
   * transient error): a node must never stay connected without having caught up.
   */
  private scheduleResync(delayMs: number): void {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => {
      if (this.stopped || !this.store.connected) return;
      this.resync().then(() => {
        this.resyncRetryMs = RESYNC_RETRY_MS;
      }, (err: Error) => {
        this.logger.warn({ err: err.message, retry_ms: this.resyncRetryMs }, 'cluster resync failed; trying again');
        this.scheduleResync(this.resyncRetryMs);
        this.resyncRetryMs = Math.min(this.resyncRetryMs * 2, RESYNC_RETRY_MAX_MS);
      });
    }, delayMs);
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
    await this.store.hsetMany(this.store.keys.admin(this.host.node), this.ownAdmin());
    const epoch = await this.store.setHeartbeat(this.host.node, JSON.stringify(this.heartbeat()), this.cluster.heartbeat_ttl, this.epochCandidate());
    if (this.isNewEpoch(epoch)) {
      this.dataLosses++;
      this.logger.warn({ previous: this.epoch, epoch }, 'the cluster store lost its data (new epoch): republishing this node\'s actions, views and config');
    }
    await this.store.publish(JSON.stringify({ type: 'health', node: this.host.node }));
    // The reads run whatever the republish did: a node must follow what it missed regardless.
    const republished = this.republish().then(() => null, (err: Error) => err);
    await this.peersRead.request();
    await this.actionsRead.request();
    await this.configRead.request();
    const error = await republished;
    if (error) throw error;
    // Remembered only once everything is back: a failed resync finds the new epoch again.
    this.epoch = epoch;
    this.logger.info({ peers: this.peers.size, revision: this.configRevision }, 'cluster connected and resynchronised');
  }

  private ownAdmin(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const key of this.host.backends().keys()) {
      const admin = this.host.appliedAdmin(key);
      if (admin) out[key] = admin;
    }
    return out;
  }

  private async followActions(): Promise<void> {
    const all = await this.store.hgetall(this.store.keys.actions);
    const known = this.host.backends();
    const now = this.now();
    for (const [key, raw] of Object.entries(all)) {
      if (!isBackendKey(key)) { this.reject('action', `bad field ${JSON.stringify(key.slice(0, 64))}`); continue; }
      const action = parseValue(actionSchema, raw);
      if (!action.ok) { this.reject(`action ${key}`, action.reason); continue; }
      if (!plausibleRevision(action.value.rev, now)) { this.reject(`action ${key}`, `revision ${action.value.rev} is far ahead of this node's clock`); continue; }
      if (!known.has(key)) { this.actions.see(action.value.rev); continue; }
      if (!this.actions.follow(key, action.value)) continue;
      try {
        await this.host.applyAdmin(key, action.value.admin);
      } catch (err) {
        // The engine keeps the admin state and retries the rules itself; the next backends go on.
        this.logger.warn({ key, err: (err as Error).message }, `applying the cluster's ${action.value.admin} of ${key} failed; the engine retries`);
      }
      this.announceAdmin(key);
    }
  }

  private async followConfig(): Promise<void> {
    const raw = await this.store.get(this.store.keys.config);
    if (raw === null) return;
    const shared = parseValue(sharedConfigSchema, raw);
    if (!shared.ok) return this.reject('config', shared.reason);
    if (!plausibleRevision(shared.value.rev, this.now())) return this.reject('config', `revision ${shared.value.rev} is far ahead of this node's clock`);
    this.actions.see(shared.value.rev);
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
      const epoch = await this.store.setHeartbeat(this.host.node, JSON.stringify(this.heartbeat()), this.cluster.heartbeat_ttl, this.epochCandidate());
      // The store forgot everything while connected (FLUSHALL, eviction, a restart faster than
      // the reconnect): the same as a reconnect after an outage.
      if (this.isNewEpoch(epoch)) return this.scheduleResync(0);
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
    const { all, peers } = await readPeerEntries(this.store, this.host.node, (what, reason) => this.reject(what, reason));
    this.peers.clear();
    for (const [node, entry] of peers) this.peers.set(node, entry);
    this.reportSplitBrain(all);
    this.recomputeAll();
    this.evaluateAgreement();
  }

  /** Logs admin disagreements that outlast a resync, and tries to heal them from the store. */
  private evaluateAgreement(now = Date.now()): void {
    const all = new Map<string, AdminViews>();
    for (const key of this.host.backends().keys()) all.set(key, this.adminViews(key));
    const { lasting, resolved } = this.agreement.update(all, now);
    for (const d of lasting) {
      const views = Object.entries(d.views).map(([n, a]) => `${n} ${a}`).join(', ');
      this.logger.error({ key: d.key, views: d.views, since: new Date(d.since).toISOString() }, `nodes disagree on the admin state of ${d.key}: ${views}`);
    }
    for (const key of resolved) this.logger.info({ key }, `nodes agree again on the admin state of ${key}`);
    if (lasting.length > 0) {
      // Whatever was missed, the store's latest action decides, this node's is put back if newer,
      // and its admin states are written again (one announcement may have been lost).
      void this.republish().then(() => this.writeOwnAdmin()).then(() => this.actionsRead.request())
        .catch((err: Error) => this.logger.warn({ err: err.message }, 'healing an admin disagreement failed'));
    }
  }

  private reportSplitBrain(all: Heartbeat[]): void {
    const claims = all.map((h) => ({ node: h.node, vrrp: h.node === this.host.node ? this.host.vrrp() : h.vrrp, virtual_router_id: h.virtual_router_id, at: h.at }));
    const { started, ended } = this.splitBrainWatch.update(claims, Date.now());
    for (const [vrid, nodes] of started) this.logger.error({ virtual_router_id: vrid, masters: nodes }, `split brain: ${nodes.join(' and ')} are all MASTER of virtual router ${vrid}`);
    for (const vrid of ended) this.logger.info({ virtual_router_id: vrid }, 'split brain over');
  }

  /** Virtual router id -> the nodes claiming MASTER of it, for split brains reported now. */
  get splitBrains(): ReadonlyMap<number, string[]> {
    return this.splitBrainWatch.current;
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
