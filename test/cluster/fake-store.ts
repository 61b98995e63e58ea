// An in-memory PeerStore for unit tests of the sync logic: keys, hashes and notes as Redis holds
// them, each read a little slow (so overlapping reads show), with call counts.

import { clusterKeys, type ClusterKeys } from '../../agent/cluster/keys.js';
import type { NewAction, NewConfig, PeerStore } from '../../agent/cluster/store.js';
import type { ActionRecord, SharedConfig } from '../../agent/cluster/messages.js';
import { isNewer, nextRevision, plausibleRevision } from '../../agent/cluster/order.js';
import type { PutResult } from '../../agent/cluster/store-scripts.js';

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 1));

export class FakeStore implements PeerStore {
  readonly keys: ClusterKeys = clusterKeys('ha-agent', 'test');
  connected = false;
  lastError: string | undefined;
  readonly strings = new Map<string, string>();
  readonly hashes = new Map<string, Map<string, string>>();
  readonly published: string[] = [];
  /** Calls per method name. */
  readonly calls = new Map<string, number>();
  /** The next calls of a method that fail (method name -> how many), as Redis errors would. */
  readonly failures = new Map<string, number>();
  /** heartbeats() reads in flight now, and the most seen at once. */
  inFlight = 0;
  maxInFlight = 0;
  private revision = 0;
  private readonly connectedListeners: (() => void)[] = [];
  private readonly disconnectedListeners: ((reason: string) => void)[] = [];
  private readonly noteListeners: ((raw: string) => void)[] = [];

  async connect(): Promise<void> {
    this.connected = true;
    for (const listener of this.connectedListeners) listener();
  }

  onConnected(listener: () => void): void { this.connectedListeners.push(listener); }
  onDisconnected(listener: (reason: string) => void): void { this.disconnectedListeners.push(listener); }
  onNote(listener: (raw: string) => void): void { this.noteListeners.push(listener); }

  /** Delivers a pub/sub note as the subscriber would. */
  note(raw: string): void {
    for (const listener of this.noteListeners) listener(raw);
  }

  count(name: string): number {
    return this.calls.get(name) ?? 0;
  }

  private call(name: string): void {
    this.calls.set(name, this.count(name) + 1);
    const failing = this.failures.get(name) ?? 0;
    if (failing > 0) {
      this.failures.set(name, failing - 1);
      throw new Error(`${name} failed`);
    }
  }

  /** The connection lost, as the real store reports it; connect() brings it back. */
  drop(reason = 'connection closed'): void {
    this.connected = false;
    for (const listener of this.disconnectedListeners) listener(reason);
  }

  /** The scripts' semantics (store-scripts.ts), on the same order.ts rules. */
  private next(floor: number, now: number, stored: string | undefined): number {
    this.revision = nextRevision(Number(this.strings.get(this.keys.revision) ?? 0), floor, now, this.storedStamp(stored, now)?.rev);
    this.strings.set(this.keys.revision, String(this.revision));
    return this.revision;
  }

  private raise(rev: number): void {
    if (Number(this.strings.get(this.keys.revision) ?? 0) < rev) this.strings.set(this.keys.revision, String(rev));
  }

  private storedStamp(raw: string | undefined, now: number): { rev: number; node: string } | undefined {
    try {
      const v = raw === undefined ? undefined : JSON.parse(raw) as { rev?: unknown; node?: unknown };
      const ok = v && typeof v.rev === 'number' && plausibleRevision(v.rev, now) && typeof v.node === 'string' && /^[a-z0-9-]{1,32}$/.test(v.node);
      return ok ? { rev: v.rev as number, node: v.node as string } : undefined;
    } catch {
      return undefined;
    }
  }

  private compare(stamp: { rev: number; node: string }, raw: string | undefined, now: number): PutResult {
    const stored = this.storedStamp(raw, now);
    if (stored && stored.rev === stamp.rev && stored.node === stamp.node) return 'already-there';
    return isNewer(stamp, stored) ? 'stored' : 'newer-there';
  }

  async newAction(field: string, action: NewAction, floor: number, now: number): Promise<number> {
    this.call('newAction');
    const rev = this.next(floor, now, this.hash(this.keys.actions).get(field));
    this.hash(this.keys.actions).set(field, JSON.stringify({ rev, ...action }));
    this.published.push(JSON.stringify({ rev, type: 'action', node: action.node }));
    return rev;
  }

  async putActionIfNewer(field: string, action: ActionRecord, now: number): Promise<PutResult> {
    this.call('putActionIfNewer');
    const result = this.compare(action, this.hash(this.keys.actions).get(field), now);
    if (result !== 'stored') return result;
    this.hash(this.keys.actions).set(field, JSON.stringify(action));
    this.raise(action.rev);
    this.published.push(JSON.stringify({ type: 'action', node: action.node, rev: action.rev }));
    return result;
  }

  async newConfig(config: NewConfig, floor: number, now: number): Promise<number> {
    this.call('newConfig');
    const rev = this.next(floor, now, this.strings.get(this.keys.config));
    this.strings.set(this.keys.config, JSON.stringify({ rev, ...config }));
    this.published.push(JSON.stringify({ rev, type: 'config', node: config.node }));
    return rev;
  }

  async putConfigIfNewer(config: SharedConfig, now: number): Promise<PutResult> {
    this.call('putConfigIfNewer');
    const result = this.compare(config, this.strings.get(this.keys.config), now);
    if (result !== 'stored') return result;
    this.strings.set(this.keys.config, JSON.stringify(config));
    this.raise(config.rev);
    this.published.push(JSON.stringify({ type: 'config', node: config.node, rev: config.rev }));
    return result;
  }

  async setHeartbeat(node: string, value: string, _ttlMs: number, epoch: string): Promise<string> {
    this.call('setHeartbeat');
    this.strings.set(this.keys.node(node), value);
    if (!this.strings.has(this.keys.epoch)) this.strings.set(this.keys.epoch, epoch);
    return this.strings.get(this.keys.epoch)!;
  }

  /** What Redis does on a restart without persistence: everything gone. */
  flush(): void {
    this.strings.clear();
    this.hashes.clear();
  }

  /**
   * Every string under the node prefix, so a test can plant a peer's heartbeat with one set: the
   * same as the real store's node set, as long as nothing expires (the tests' TTLs are hours).
   */
  async heartbeats(): Promise<string[]> {
    this.call('heartbeats');
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    const prefix = this.keys.node('');
    const values = [...this.strings].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
    await tick();
    this.inFlight--;
    return values;
  }

  async hsetAndPublish(key: string, field: string, value: string, note: string): Promise<void> {
    this.call('hsetAndPublish');
    this.hash(key).set(field, value);
    this.published.push(note);
  }

  async hsetMany(key: string, values: Record<string, string>): Promise<void> {
    this.call('hsetMany');
    this.hashes.set(key, new Map(Object.entries(values)));
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    this.call('hgetall');
    const value = Object.fromEntries(this.hash(key));
    await tick();
    return value;
  }

  async get(key: string): Promise<string | null> {
    this.call('get');
    return this.strings.get(key) ?? null;
  }

  async publish(note: string): Promise<void> {
    this.call('publish');
    this.published.push(note);
  }

  async close(): Promise<void> {
    this.connected = false;
  }

  hash(key: string): Map<string, string> {
    let hash = this.hashes.get(key);
    if (!hash) this.hashes.set(key, (hash = new Map()));
    return hash;
  }
}

/** Resolves once `cond` holds; rejects after `ms`. */
export async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await tick();
  }
}
