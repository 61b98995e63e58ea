// Reads what the other live nodes published: heartbeats, health views and admin states, each
// value checked (Redis content is input) and every rejection reported with its reason.

import type { AdminState } from '../../config/schema.js';
import type { Health } from '../plan/plan.js';
import { adminValue, healthValue, heartbeatSchema, isBackendKey, parseValue, type Heartbeat } from './messages.js';
import type { PeerStore } from './store.js';

export interface PeerEntry {
  readonly hb: Heartbeat;
  /** farm/backend -> that node's observation. */
  readonly health: ReadonlyMap<string, Health>;
  /** farm/backend -> the admin state that node applies. */
  readonly admin: ReadonlyMap<string, AdminState>;
}

export type Reject = (what: string, reason: string) => void;

/** Every valid live heartbeat (this node's included), and the other nodes with their views. */
export async function readPeerEntries(store: PeerStore, self: string, reject: Reject): Promise<{ all: Heartbeat[]; peers: Map<string, PeerEntry> }> {
  const all: Heartbeat[] = [];
  for (const raw of await store.heartbeats()) {
    const hb = parseValue(heartbeatSchema, raw);
    if (hb.ok) all.push(hb.value);
    else reject('heartbeat', hb.reason);
  }
  const others = all.filter((hb) => hb.node !== self);
  const [healths, admins] = await Promise.all([
    Promise.all(others.map((hb) => store.hgetall(store.keys.health(hb.node)))),
    Promise.all(others.map((hb) => store.hgetall(store.keys.admin(hb.node)))),
  ]);
  const peers = new Map<string, PeerEntry>();
  others.forEach((hb, i) => {
    peers.set(hb.node, {
      hb,
      health: validEntries(healths[i]!, (v) => healthValue.safeParse(v), `health of ${hb.node}`, reject),
      admin: validEntries(admins[i]!, (v) => adminValue.safeParse(v), `admin state of ${hb.node}`, reject),
    });
  });
  return { all, peers };
}

function validEntries<T>(hash: Record<string, string>, parse: (v: string) => { success: true; data: T } | { success: false }, what: string, reject: Reject): Map<string, T> {
  const out = new Map<string, T>();
  for (const [key, value] of Object.entries(hash)) {
    const parsed = parse(value);
    if (isBackendKey(key) && parsed.success) out.set(key, parsed.data);
    else reject(what, `bad entry ${JSON.stringify(key.slice(0, 64))}`);
  }
  return out;
}
