// The Lua scripts behind the cluster's writes that must not race: a new revision and the write that
// carries it are one step in Redis, and a replayed write lands only over an older one. They follow
// the order in order.ts (revision, then node id, compared byte by byte: Lua's `<` on strings uses
// the server's collation locale) and its idea of garbage (a stored value the agent's schemas would
// refuse never blocks a write). Values are built by concatenation around the revision, so the
// JSON the agent wrote is stored as written (cjson would re-encode it and turn [] into {}).

import { MAX_AHEAD_MS, MAX_REVISION } from './order.js';

/**
 * Shared prelude. `now` is the writer's clock: a counter or stored revision further ahead of it
 * than MAX_AHEAD is garbage (hostile, or a clock that was years off), as order.ts says.
 */
const PRELUDE = `
local MAX = ${MAX_REVISION}
local AHEAD = ${MAX_AHEAD_MS}
local function sane(n, now)
  return type(n) == 'number' and n == n and n >= 1 and n <= MAX and n <= now + AHEAD and math.floor(n) == n
end
local function counter(key, now)
  local n = tonumber(redis.call('GET', key) or '0')
  if not sane(n, now) then return 0 end
  return n
end
local function fmt(n) return string.format('%.0f', n) end
local function node_ok(node)
  return type(node) == 'string' and #node >= 1 and #node <= 32 and not string.find(node, '[^a-z0-9-]')
end
-- The stamp of a stored JSON value, or nil when it is not one the agent would accept.
local function stamp(raw, now)
  if not raw then return nil end
  local ok, cur = pcall(cjson.decode, raw)
  if not ok or type(cur) ~= 'table' or not sane(cur.rev, now) or not node_ok(cur.node) then return nil end
  return cur
end
local function node_gt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
-- 1: (rev, node) is newer than the stored stamp; 2: the same stamp; 0: older.
local function compare(rev, node, cur)
  if not cur then return 1 end
  if rev ~= cur.rev then return rev > cur.rev and 1 or 0 end
  if node == cur.node then return 2 end
  return node_gt(node, cur.node) and 1 or 0
end
-- Above the counter, the writer's floor, the revision stored where it writes, at least its clock.
local function next_rev(key, floor, now, stored)
  local rev = math.max(counter(key, now) + 1, floor + 1, now)
  local cur = stamp(stored, now)
  if cur then rev = math.max(rev, cur.rev + 1) end
  if rev > MAX then return redis.error_reply('cluster revision would exceed ' .. fmt(MAX) .. ': clean the cluster keys') end
  redis.call('SET', key, fmt(rev))
  return rev
end
local function raise(key, rev, now)
  if counter(key, now) < rev then redis.call('SET', key, fmt(rev)) end
end
`;

/**
 * A new operator action. KEYS: revision counter, actions hash. ARGV: floor, now, field, value
 * head, value tail, channel, note head, note tail. Returns the revision.
 */
export const NEW_ACTION = `${PRELUDE}
local now = tonumber(ARGV[2])
local rev = next_rev(KEYS[1], tonumber(ARGV[1]), now, redis.call('HGET', KEYS[2], ARGV[3]))
if type(rev) == 'table' then return rev end
local r = fmt(rev)
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4] .. r .. ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7] .. r .. ARGV[8])
return rev`;

/**
 * An action replayed (a --local one after an outage, or republished after Redis lost its data):
 * stored only over an older one. KEYS: revision counter, actions hash. ARGV: rev, node, field,
 * value, channel, note, now. Returns a PutResult code.
 */
export const PUT_ACTION_IF_NEWER = `${PRELUDE}
local rev, now = tonumber(ARGV[1]), tonumber(ARGV[7])
local c = compare(rev, ARGV[2], stamp(redis.call('HGET', KEYS[2], ARGV[3]), now))
if c ~= 1 then return c end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
raise(KEYS[1], rev, now)
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1`;

/**
 * A config push: the stored revision only ever grows, whatever pushes run at once. KEYS: revision
 * counter, config key. ARGV: floor, now, value head, value tail, channel, note head, note tail.
 * Returns the revision.
 */
export const NEW_CONFIG = `${PRELUDE}
local now = tonumber(ARGV[2])
local rev = next_rev(KEYS[1], tonumber(ARGV[1]), now, redis.call('GET', KEYS[2]))
if type(rev) == 'table' then return rev end
local r = fmt(rev)
redis.call('SET', KEYS[2], ARGV[3] .. r .. ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6] .. r .. ARGV[7])
return rev`;

/**
 * The running shared config republished after Redis lost it: stored only over an older one.
 * KEYS: revision counter, config key. ARGV: rev, node, value, channel, note, now. Returns a
 * PutResult code.
 */
export const PUT_CONFIG_IF_NEWER = `${PRELUDE}
local rev, now = tonumber(ARGV[1]), tonumber(ARGV[6])
local c = compare(rev, ARGV[2], stamp(redis.call('GET', KEYS[2]), now))
if c ~= 1 then return c end
redis.call('SET', KEYS[2], ARGV[3])
raise(KEYS[1], rev, now)
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`;

/** What a replayed write did: stored it, found a newer one there, or found this very one. */
export type PutResult = 'stored' | 'newer-there' | 'already-there';
export function putResult(code: unknown): PutResult {
  switch (Number(code)) {
    case 1: return 'stored';
    case 2: return 'already-there';
    default: return 'newer-there';
  }
}

/**
 * A JSON object with the revision as its first member, split where the scripts put the revision:
 * `{"rev":` + revision + the rest. Nothing inside the rest is searched or rewritten.
 */
export function aroundRevision(rest: Record<string, unknown>): [string, string] {
  const body = JSON.stringify(rest);
  return ['{"rev":', body === '{}' ? '}' : `,${body.slice(1)}`];
}
