"""The shared limiter's Lua scripts: each runs atomically inside Redis.

State of one endpoint lives in a hash ``{<id>}:bucket`` (limits, levels, stamp)
plus ``{<id>}:paused_until`` and the waiters' queue (``{<id>}:waiters``,
``{<id>}:deadlines``). The braces
are a Redis Cluster hash tag: all keys of one endpoint land on one shard, which
a script touching several keys needs. Time comes from Redis (``TIME``), never
from the callers, so workers on machines with skewed clocks still agree.

Buckets behave like ``core.policy.limiter.TokenBucket``: ``limit/60`` units per
second refill continuously, at most ``burst_s`` seconds' worth are banked, and
a request bigger than the bucket waits for a full one, then drives it negative.

Scripts are loaded with redis-py ``register_script``, which calls them by SHA
(``EVALSHA``) and reloads them if Redis was restarted.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "PAUSE", "CORRECT", "SET_LIMITS", "LEARN"]

# KEYS[1] bucket hash. ARGV[1] burst_s. Defines now, buckets and save().
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local burst = tonumber(ARGV[1])
local s = redis.call('HMGET', KEYS[1], 'rpm', 'tpm', 'req', 'tok', 'stamp')
local stamp = tonumber(s[5]) or now
local elapsed = math.max(0, now - stamp)

local function bucket(limit, level)
  limit = tonumber(limit)
  if not limit or limit <= 0 then return nil end
  local cap = math.max(1, limit / 60 * burst)
  local lvl = tonumber(level)
  if lvl == nil then lvl = cap end
  return {rate = limit / 60, cap = cap, level = math.min(cap, lvl + elapsed * limit / 60)}
end

local req = bucket(s[1], s[3])
local tok = bucket(s[2], s[4])

local function save()
  local fields = {'stamp', tostring(now)}
  if req then table.insert(fields, 'req'); table.insert(fields, tostring(req.level)) end
  if tok then table.insert(fields, 'tok'); table.insert(fields, tostring(tok.level)) end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('EXPIRE', KEYS[1], 86400)
end
"""

# KEYS: bucket, paused_until, waiters (by priority rank, then arrival), deadlines
# ARGV: burst_s, tokens, rank, waiter id
# Returns 0 (taken) or the milliseconds to wait before asking again.
#
# Waiters from every worker form one queue, ordered by priority and then arrival, and
# only its head may take capacity: an interactive call goes before bulk ones, and no
# bulk call is starved by luckier ones (which would make its task outlive the
# visibility timeout and be delivered twice). Each waiter is told when its turn should
# come (its place times one slot), so nobody polls in a herd. A waiter that stops
# asking (its process died) is dropped after its deadline.
ACQUIRE = _PRELUDE + """
local tokens = tonumber(ARGV[2])
local rank = tonumber(ARGV[3])
local waiter = ARGV[4]

local dead = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 100)
for _, member in ipairs(dead) do
  redis.call('ZREM', KEYS[3], member)
  redis.call('ZREM', KEYS[4], member)
end
if not redis.call('ZSCORE', KEYS[3], waiter) then
  redis.call('ZADD', KEYS[3], rank * 1e10 + now, waiter)
end
local position = redis.call('ZRANK', KEYS[3], waiter)

local wait = math.max(0, (tonumber(redis.call('GET', KEYS[2])) or 0) - now)
if req and req.level < 1 then wait = math.max(wait, (1 - req.level) / req.rate) end
if tok then
  local need = math.min(tokens, tok.cap) - tok.level
  if need > 0 then wait = math.max(wait, need / tok.rate) end
end

if position == 0 and wait <= 0 then
  if req then req.level = req.level - 1 end
  if tok then tok.level = tok.level - tokens end
  if req or tok then save() end
  redis.call('ZREM', KEYS[3], waiter)
  redis.call('ZREM', KEYS[4], waiter)
  return 0
end

local slot = 0.005
if req then slot = math.max(slot, 1 / req.rate) end
if tok then slot = math.max(slot, math.min(tokens, tok.cap) / tok.rate) end
wait = math.max(wait + position * slot, 0.005)
redis.call('ZADD', KEYS[4], now + wait + 5, waiter)
redis.call('EXPIRE', KEYS[3], 3600)
redis.call('EXPIRE', KEYS[4], 3600)
return math.ceil(wait * 1000)
"""

# KEYS: bucket, paused_until. ARGV: burst_s, seconds. Everyone waits; buckets restart empty
# so the queue does not burst into the server when the pause ends. Returns 1 if extended.
PAUSE = _PRELUDE + """
local untill = now + tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[2])) or 0
if req then req.level = math.min(req.level, 0) end
if tok then tok.level = math.min(tok.level, 0) end
if req or tok then save() end
if untill > current then
  redis.call('SET', KEYS[2], tostring(untill), 'PX', math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
  return 1
end
return 0
"""

# KEYS: bucket. ARGV: burst_s, surplus tokens (negative: charge what the estimate missed).
CORRECT = _PRELUDE + """
if tok then
  tok.level = math.min(tok.cap, tok.level + tonumber(ARGV[2]))
  save()
end
return 0
"""

# KEYS: bucket. ARGV: burst_s, rpm, tpm ('' keeps what is there).
SET_LIMITS = _PRELUDE + """
if req or tok then save() end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'rpm', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'tpm', ARGV[3]) end
redis.call('EXPIRE', KEYS[1], 86400)
return 0
"""

# KEYS: bucket. ARGV: field ('rpm'|'tpm'), limit. A limit learned from x-ratelimit-* headers
# never overrides one somebody configured.
LEARN = """
local set = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], 86400)
return set
"""
