// An in-memory PeerStore for unit tests of the sync logic: keys, hashes and notes as Redis holds
// them, each read a little slow (so overlapping reads show), with call counts.

import { clusterKeys, type ClusterKeys } from '../../agent/cluster/keys.js';
import type { PeerStore } from '../../agent/cluster/store.js';

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
  }

  async nextRevision(): Promise<number> {
    this.call('nextRevision');
    return ++this.revision;
  }

  async setHeartbeat(node: string, value: string): Promise<void> {
    this.call('setHeartbeat');
    this.strings.set(this.keys.node(node), value);
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

  async set(key: string, value: string): Promise<void> {
    this.call('set');
    this.strings.set(key, value);
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
