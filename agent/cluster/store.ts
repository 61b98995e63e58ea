// RedisPeerStore: the cluster's shared state in Redis (ioredis), behind a small capability so the
// sync logic can be tested with a fake. State always lives in keys; pub/sub only says "look".

import { Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { parseListen } from '../../config/net.js';
import type { ClusterConfig } from '../../config/schema.js';
import { readClusterSecrets, type ClusterSecrets } from '../../config/secrets.js';
import { clusterKeys, type ClusterKeys } from './keys.js';
import type { ActionRecord, SharedConfig } from './messages.js';
import { aroundRevision, NEW_ACTION, NEW_CONFIG, PUT_ACTION_IF_NEWER, PUT_CONFIG_IF_NEWER, putResult, type PutResult } from './store-scripts.js';

export type NewAction = Omit<ActionRecord, 'rev'>;
export type NewConfig = Omit<SharedConfig, 'rev'>;

export interface PeerStore {
  readonly keys: ClusterKeys;
  /** Resolves once connected and subscribed; rejects with a clear error (auth, unreachable). */
  connect(): Promise<void>;
  readonly connected: boolean;
  /** The last error Redis or the connection reported (e.g. WRONGPASS), if any. */
  readonly lastError: string | undefined;
  onConnected(listener: () => void): void;
  onDisconnected(listener: (reason: string) => void): void;
  onNote(listener: (raw: string) => void): void;
  /**
   * Stores a new operator action under a revision above the store's counter and `floor` (the
   * highest this node has seen), at least `now`, and announces it, in one step. The revision.
   */
  newAction(field: string, action: NewAction, floor: number, now: number): Promise<number>;
  /** Stores a replayed action only over an older one (order.ts), announcing it; what it found. */
  putActionIfNewer(field: string, action: ActionRecord, now: number): Promise<PutResult>;
  /** Stores a new shared config as newAction does: the stored revision only ever grows. */
  newConfig(config: NewConfig, floor: number, now: number): Promise<number>;
  /** Stores a republished shared config only over an older one; what it found. */
  putConfigIfNewer(config: SharedConfig, now: number): Promise<PutResult>;
  /**
   * Writes this node's heartbeat and registers it; also writes `epoch` as the store's epoch unless
   * one is there. The epoch in force: a change means the store lost its data.
   */
  setHeartbeat(node: string, value: string, ttlMs: number, epoch: string): Promise<string>;
  /** The live heartbeats (not expired). */
  heartbeats(): Promise<string[]>;
  /** HSET and PUBLISH in one MULTI: one round trip, and peers never get the note without the write. */
  hsetAndPublish(key: string, field: string, value: string, note: string): Promise<void>;
  /** Replaces the whole hash. */
  hsetMany(key: string, values: Record<string, string>): Promise<void>;
  hgetall(key: string): Promise<Record<string, string>>;
  get(key: string): Promise<string | null>;
  publish(note: string): Promise<void>;
  close(): Promise<void>;
}

/** How long a command may go unanswered before it fails and the connection counts as lost. */
export const COMMAND_TIMEOUT_MS = 2000;

/**
 * ioredis options from the cluster section and the files it names: URL (redis:// or rediss://)
 * or Sentinel. The URL is taken apart here rather than handed to ioredis, which would read a
 * password or options from it by its own rules: the client holds host, port and credentials,
 * never a URL string that an error or a dump could print.
 */
export function redisOptions(cluster: ClusterConfig, secrets: ClusterSecrets = readClusterSecrets(cluster)): { options: RedisOptions } {
  const options: RedisOptions = {
    lazyConnect: true,
    // Commands fail at once while disconnected: the agent acts locally and resyncs later,
    // instead of queueing writes that would replay stale state.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // A write lost with a dead connection is never sent again on the next one: it would land
    // with the revision floor of its time, after what happened meanwhile (the caller was told).
    autoResendUnfulfilledCommands: false,
    // Packets to Redis dropped without a reset leave the socket open and every command hanging
    // for as long as the kernel retransmits (minutes): a command unanswered this long fails, and
    // the liveness probe (RedisPeerStore) then drops the connection and dials again.
    commandTimeout: COMMAND_TIMEOUT_MS,
    // A backstop for a connection nothing is sent on; the probe is what bounds detection.
    keepAlive: 1000,
    // A connection given up on is destroyed soon after its FIN, which a dead path never acknowledges.
    disconnectTimeout: 100,
    connectTimeout: 2000,
    // At most a second between tries: a node back later than its peers misses their actions for
    // that long (each try is one TCP connect, cheap for Redis).
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 1000),
  };
  if (cluster.sentinels) {
    // parseListen, not split(':'): "[::1]:26379" is a valid sentinel.
    options.sentinels = cluster.sentinels.map((s) => (typeof s === 'string' ? parseListen(s) : s));
    options.name = cluster.sentinel_name;
    if (cluster.username) options.username = cluster.username;
    if (cluster.sentinel_username) options.sentinelUsername = cluster.sentinel_username;
  } else {
    const url = new URL(cluster.redis!);
    options.host = url.hostname.replace(/^\[|\]$/g, '');
    options.port = url.port ? Number(url.port) : 6379;
    if (url.pathname.length > 1) options.db = Number(url.pathname.slice(1));
    if (url.username) options.username = decodeURIComponent(url.username);
    if (url.password) options.password = decodeURIComponent(url.password);
  }
  return { options: { ...options, ...credentialOptions(cluster, secrets) } };
}

/** The options that come from files: set again before each reconnect, so rotated files are used. */
function credentialOptions(cluster: ClusterConfig, secrets: ClusterSecrets): RedisOptions {
  const options: RedisOptions = {};
  if (secrets.password !== undefined) options.password = secrets.password;
  const tls = cluster.tls ? { ...secrets.tls } : undefined;
  if (cluster.sentinels) {
    if (secrets.sentinelPassword !== undefined) options.sentinelPassword = secrets.sentinelPassword;
    // Without enableTLSForSentinelMode ioredis would speak TLS to the sentinels only, and plain
    // text to the master they name.
    if (tls) Object.assign(options, { tls, sentinelTLS: tls, enableTLSForSentinelMode: true });
  } else if (/^rediss:/i.test(cluster.redis ?? '')) {
    options.tls = tls ?? {};
  }
  return options;
}

/** Reads the secret files again before `client` reconnects; a file gone bad keeps the last good value. */
function refreshCredentials(client: Redis, cluster: ClusterConfig, failed: (message: string) => void): void {
  if (!cluster.password_file && !cluster.sentinel_password_file && !cluster.tls) return;
  client.on('reconnecting', () => {
    try {
      Object.assign(client.options, credentialOptions(cluster, readClusterSecrets(cluster)));
    } catch (err) {
      failed((err as Error).message);
    }
  });
}

/** EXEC resolves with per-command errors, which must not pass silently. */
async function execOrThrow(tx: ChainableCommander): Promise<[Error | null, unknown][]> {
  const results = (await tx.exec()) ?? [];
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
  return results;
}

const SCRIPTS = { NEW_ACTION, PUT_ACTION_IF_NEWER, NEW_CONFIG, PUT_CONFIG_IF_NEWER } as const;

/**
 * Drops from the node set (KEYS[1]) the ids (ARGV) whose heartbeat (KEYS[i + 1]) is gone. A
 * script, so the check and the removal are one step: a node that beats again in between (SET
 * and SADD) is never dropped with its heartbeat live.
 */
const PRUNE_NODES = `for i, id in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[i + 1]) == 0 then redis.call('SREM', KEYS[1], id) end
end`;

export class RedisPeerStore implements PeerStore {
  readonly keys: ClusterKeys;
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly connectedListeners: (() => void)[] = [];
  private readonly disconnectedListeners: ((reason: string) => void)[] = [];
  private readonly noteListeners: ((raw: string) => void)[] = [];
  private isConnected = false;
  /** Connected means both: commands work AND notes arrive; a subscriber down alone misses notes. */
  private clientReady = false;
  private subscribed = false;
  lastError: string | undefined;
  /** Pings both connections this often: a silent partition is noticed within this + COMMAND_TIMEOUT_MS. */
  private readonly probeMs: number;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly probing = new Set<Redis>();

  constructor(cluster: ClusterConfig) {
    this.keys = clusterKeys(cluster.key_prefix, cluster.name);
    this.probeMs = cluster.heartbeat;
    const { options } = redisOptions(cluster);
    this.client = new Redis(options);
    for (const [name, lua] of Object.entries(SCRIPTS)) this.client.defineCommand(name, { numberOfKeys: 2, lua });
    // Subscribed by hand on every ready (ioredis's own resubscribe is not awaitable): the store
    // counts as connected only once the SUBSCRIBE is confirmed, so the resync that follows can
    // never fall before a window in which notes are lost.
    this.subscriber = new Redis({ ...options, autoResubscribe: false });
    this.client.on('error', (err: Error) => (this.lastError = err.message));
    refreshCredentials(this.client, cluster, (message) => (this.lastError = message));
    refreshCredentials(this.subscriber, cluster, (message) => (this.lastError = message));
    this.subscriber.on('error', () => undefined);
    this.client.on('ready', () => {
      this.clientReady = true;
      this.update();
    });
    this.client.on('close', () => {
      this.clientReady = false;
      this.update();
    });
    this.subscriber.on('ready', () => void this.subscribe().catch(() => undefined));
    this.subscriber.on('close', () => {
      this.subscribed = false;
      this.update();
    });
    this.subscriber.on('message', (_channel: string, message: string) => {
      for (const listener of this.noteListeners) listener(message);
    });
  }

  get connected(): boolean {
    return this.isConnected;
  }

  async connect(): Promise<void> {
    this.startProbing();
    // Both dialled whatever the other does: ioredis keeps retrying a connection whose first try
    // failed, but one never dialled (lazyConnect) stays idle, and a node started while Redis was
    // down would never count as connected.
    const results = await Promise.allSettled([this.client.connect(), this.subscriber.connect()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    // The ready handler subscribes too; a second SUBSCRIBE to one channel is a no-op in Redis.
    await this.subscribe();
  }

  /**
   * Pings each ready connection every probeMs. A ping unanswered within the command timeout means
   * the path is dead though the socket looks open (packets dropped, a Redis restarted behind a
   * partition): the connection is dropped, which marks the store disconnected and dials again,
   * on a fresh socket rather than behind the kernel's retransmission backoff. The subscriber is
   * probed too: nothing else is ever sent on it, so it would never notice on its own.
   */
  private startProbing(): void {
    if (this.probeTimer) return;
    this.probeTimer = setInterval(() => {
      this.probe(this.client);
      this.probe(this.subscriber);
    }, this.probeMs);
    this.probeTimer.unref();
  }

  private probe(connection: Redis): void {
    if (connection.status !== 'ready' || this.probing.has(connection)) return;
    this.probing.add(connection);
    connection.ping().catch((err: Error) => {
      // A reply error (an ACL without PING, say) proves the path alive; only silence condemns it.
      if (err.message !== 'Command timed out' || connection.status !== 'ready') return;
      this.lastError = `Redis did not answer within ${COMMAND_TIMEOUT_MS} ms`;
      connection.disconnect(true);
    }).finally(() => this.probing.delete(connection));
  }

  private async subscribe(): Promise<void> {
    await this.subscriber.subscribe(this.keys.channel);
    this.subscribed = this.subscriber.status === 'ready';
    this.update();
  }

  onConnected(listener: () => void): void { this.connectedListeners.push(listener); }
  onDisconnected(listener: (reason: string) => void): void { this.disconnectedListeners.push(listener); }
  onNote(listener: (raw: string) => void): void { this.noteListeners.push(listener); }

  /** Fires the listeners on each change of the combined state (client ready and subscribed). */
  private update(): void {
    const now = this.clientReady && this.subscribed;
    if (now === this.isConnected) return;
    this.isConnected = now;
    if (now) for (const listener of this.connectedListeners) listener();
    else for (const listener of this.disconnectedListeners) listener(this.lastError ?? 'connection closed');
  }

  async newAction(field: string, action: NewAction, floor: number, now: number): Promise<number> {
    const [head, tail] = aroundRevision(action);
    const [noteHead, noteTail] = aroundRevision({ type: 'action', node: action.node });
    return Number(await this.script('NEW_ACTION', [this.keys.revision, this.keys.actions],
      [floor, now, field, head, tail, this.keys.channel, noteHead, noteTail]));
  }

  async putActionIfNewer(field: string, action: ActionRecord, now: number): Promise<PutResult> {
    return putResult(await this.script('PUT_ACTION_IF_NEWER', [this.keys.revision, this.keys.actions],
      [action.rev, action.node, field, JSON.stringify(action), this.keys.channel, JSON.stringify({ type: 'action', node: action.node, rev: action.rev }), now]));
  }

  async newConfig(config: NewConfig, floor: number, now: number): Promise<number> {
    const [head, tail] = aroundRevision(config);
    const [noteHead, noteTail] = aroundRevision({ type: 'config', node: config.node });
    return Number(await this.script('NEW_CONFIG', [this.keys.revision, this.keys.config],
      [floor, now, head, tail, this.keys.channel, noteHead, noteTail]));
  }

  async putConfigIfNewer(config: SharedConfig, now: number): Promise<PutResult> {
    return putResult(await this.script('PUT_CONFIG_IF_NEWER', [this.keys.revision, this.keys.config],
      [config.rev, config.node, JSON.stringify(config), this.keys.channel, JSON.stringify({ type: 'config', node: config.node, rev: config.rev }), now]));
  }

  /** Runs one of the scripts by its SHA (ioredis loads it on NOSCRIPT, e.g. after a Redis restart). */
  private script(name: keyof typeof SCRIPTS, keys: string[], args: (string | number)[]): Promise<unknown> {
    const command = (this.client as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[name]!;
    return command.call(this.client, ...keys, ...args);
  }

  async setHeartbeat(node: string, value: string, ttlMs: number, epoch: string): Promise<string> {
    const results = await execOrThrow(this.client.multi()
      .set(this.keys.node(node), value, 'PX', ttlMs)
      .sadd(this.keys.nodes, node)
      .set(this.keys.epoch, epoch, 'NX')
      .get(this.keys.epoch));
    return String(results[3]?.[1] ?? epoch);
  }

  async heartbeats(): Promise<string[]> {
    const ids = await this.client.smembers(this.keys.nodes);
    if (ids.length === 0) return [];
    const values = await this.client.mget(ids.map((id) => this.keys.node(id)));
    const expired = ids.filter((_, i) => values[i] === null);
    if (expired.length > 0) {
      // Housekeeping only: if it fails (an ACL without EVAL, say), the ids stay and cost a nil each.
      await this.client.eval(PRUNE_NODES, 1 + expired.length, this.keys.nodes, ...expired.map((id) => this.keys.node(id)), ...expired)
        .catch(() => undefined);
    }
    return values.filter((v): v is string => typeof v === 'string');
  }

  async hsetAndPublish(key: string, field: string, value: string, note: string): Promise<void> {
    await execOrThrow(this.client.multi().hset(key, field, value).publish(this.keys.channel, note));
  }

  async hsetMany(key: string, values: Record<string, string>): Promise<void> {
    const tx = this.client.multi().del(key);
    if (Object.keys(values).length > 0) tx.hset(key, values);
    await execOrThrow(tx);
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    return this.client.hgetall(key);
  }

  async get(key: string): Promise<string | null> {
    return this.client.get(key);
  }

  async publish(note: string): Promise<void> {
    await this.client.publish(this.keys.channel, note);
  }

  async close(): Promise<void> {
    clearInterval(this.probeTimer);
    this.client.disconnect();
    this.subscriber.disconnect();
  }
}
