// The Lua scripts behind the cluster's writes that must not race: a new revision and the write that
// carries it are one step in Redis, and a replayed write lands only over an older one. They follow
// the order in order.ts (revision, then node id, compared byte by byte: Lua's `<` on strings uses
// the server's collation locale). Values are built by concatenation around the revision, so the
// JSON the agent wrote is stored as written (cjson would re-encode it and turn [] into {}).

/** Shared prelude: the next revision and the "is this stamp newer than that stored JSON" test. */
const PRELUDE = `
local MAX = 4e15
local function counter(key)
  local n = tonumber(redis.call('GET', key) or '0')
  if n == nil or n ~= n or n < 0 or n > MAX then return 0 end
  return n
end
local function next_rev(key, floor, now)
  local rev = math.max(counter(key) + 1, floor + 1, now)
  redis.call('SET', key, string.format('%d', rev))
  return rev
end
local function raise(key, rev)
  if counter(key) < rev then redis.call('SET', key, string.format('%d', rev)) end
end
local function node_gt(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local function newer(rev, node, raw)
  if not raw then return true end
  local ok, cur = pcall(cjson.decode, raw)
  if not ok or type(cur) ~= 'table' or type(cur.rev) ~= 'number' or type(cur.node) ~= 'string' then return true end
  if rev ~= cur.rev then return rev > cur.rev end
  return node_gt(node, cur.node)
end
`;

/**
 * A new operator action. KEYS: revision counter, actions hash. ARGV: floor, now, field, value
 * head, value tail, channel, note head, note tail. Returns the revision.
 */
export const NEW_ACTION = `${PRELUDE}
local rev = next_rev(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
local r = string.format('%d', rev)
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4] .. r .. ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7] .. r .. ARGV[8])
return rev`;

/**
 * An action replayed (a --local one after an outage, or republished after Redis lost its data):
 * stored only over an older one. KEYS: revision counter, actions hash. ARGV: rev, node, field,
 * value, channel, note. Returns 1 when stored, 0 when a newer action was there.
 */
export const PUT_ACTION_IF_NEWER = `${PRELUDE}
local rev = tonumber(ARGV[1])
if not newer(rev, ARGV[2], redis.call('HGET', KEYS[2], ARGV[3])) then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
raise(KEYS[1], rev)
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1`;

/**
 * A config push: the stored revision only ever grows, whatever pushes run at once. KEYS: revision
 * counter, config key. ARGV: floor, now, value head, value tail, channel, note head, note tail.
 * Returns the revision.
 */
export const NEW_CONFIG = `${PRELUDE}
local rev = next_rev(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
local r = string.format('%d', rev)
redis.call('SET', KEYS[2], ARGV[3] .. r .. ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6] .. r .. ARGV[7])
return rev`;

/**
 * The running shared config republished after Redis lost it: stored only over an older one.
 * KEYS: revision counter, config key. ARGV: rev, node, value, channel, note. Returns 1 or 0.
 */
export const PUT_CONFIG_IF_NEWER = `${PRELUDE}
local rev = tonumber(ARGV[1])
if not newer(rev, ARGV[2], redis.call('GET', KEYS[2])) then return 0 end
redis.call('SET', KEYS[2], ARGV[3])
raise(KEYS[1], rev)
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`;

/**
 * A JSON object with the revision as its first member, split where the scripts put the revision:
 * `{"rev":` + revision + the rest. Nothing inside the rest is searched or rewritten.
 */
export function aroundRevision(rest: Record<string, unknown>): [string, string] {
  const body = JSON.stringify(rest);
  return ['{"rev":', body === '{}' ? '}' : `,${body.slice(1)}`];
}
