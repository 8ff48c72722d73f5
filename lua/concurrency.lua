-- tollgate kind: concurrency limits, at most `max` leases held at once per
-- key, each lease expiring on its own `ttl` after it was taken or renewed.
-- Part of the script assembled by src/lua.ts (after lua/prologue.lua, whose
-- helpers it uses); src/concurrency-kind.ts is its TypeScript twin.
--
-- A key's leases live in one sorted set: member = lease id (chosen by the
-- client, random and unguessable), score = expiry in µs on the call's clock.
-- A lease is held while now < its expiry; every acquire first removes the
-- expired ones (ZREMRANGEBYSCORE -inf now), so the leases of a process that
-- died free themselves after their ttl. After every write the key lives
-- (PEXPIRE) until one ttl (of that write) past its newest lease's expiry, so
-- that leases which expired unreleased are still there to be counted by the
-- next acquire for a while.
--
-- Items of "x" checks:
--   "c" max ttl id   acquire: take lease `id` for ttl µs (max, ttl >= 1);
--                    passes when fewer than max leases are held (counting the
--                    items before it in the same check).
--                    Entry { v, count, oldest, newest, expired }: v = 1 when the
--                    check was allowed (the lease was added), 0 when denied;
--                    count = leases held before the check; newest = the latest
--                    expiry among them (0 when none); oldest = the earliest (read
--                    only when the item found the key full, else 0); expired =
--                    leases this item removed as expired (0 for a key already
--                    read by an earlier item of the check).
--   "r" id           release: passes when lease `id` is held; removes it.
--   "e" id ttl       extend: passes when lease `id` is held; it then expires
--                    ttl µs after now.
--                    Entry of "r" and "e": 1 when the lease was held (and
--                    released or extended), 0 when it was not (released,
--                    expired, or never taken), or the check was denied.

local function lease_id(v)
  if v == nil or v == '' or #v > 128 then return nil end
  return v
end

-- ms until `t` (µs), rounded up, at least 1: how long the key must live.
local function px_until(t)
  local px = floordiv(t - now + 999, 1000)
  return px < 1 and 1 or px
end

-- The held leases of `key` at now, read once per check (memo[key]):
-- { count, oldest (0 until read), newest, expired, taken, pending oldest,
-- pending newest }, or nil and a message.
local function leases(key, memo)
  local m = memo[key]
  if m then return m, false end
  -- pcall: a key of another type fails this check only, not the whole batch.
  local expired = redis.pcall('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now))
  if type(expired) == 'table' then return nil, 'leases at ' .. key .. ' are unreadable: ' .. tostring(expired.err) end
  local count = call('ZCARD', key)
  local newest = 0
  if count > 0 then newest = tonumber(call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]) end
  m = { count, 0, newest, expired, 0, 0, 0 }
  memo[key] = m
  return m, true
end

ITEMS.c = {
  argc = 3,
  check = function(key, p, memo)
    local max, ttl, id = int(ARGV[p], 1), int(ARGV[p + 1], 1), lease_id(ARGV[p + 2])
    if not max then return nil, 'max (leases) must be an integer >= 1 and < 2^53, got ' .. tostring(ARGV[p]) end
    if not ttl then return nil, 'ttl must be an integer of µs >= 1 and < 2^53, got ' .. tostring(ARGV[p + 1]) end
    if not id then return nil, 'lease id must be a string of 1 to 128 bytes, got ' .. tostring(ARGV[p + 2]) end
    if now + 2 * ttl >= LIMIT then return nil, 'now + 2 * ttl must stay below 2^53' end
    local m, first = leases(key, memo)
    if not m then return nil, first end
    local v = { m[1], 0, m[3], first and m[4] or 0 }
    if m[1] + m[5] >= max then
      -- Full: the oldest lease says when one frees itself.
      if m[1] > 0 and m[2] == 0 then m[2] = tonumber(call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]) end
      v[2] = m[1] > 0 and m[2] or 0
      return false, v
    end
    local expiry = now + ttl
    m[5] = m[5] + 1
    if m[7] < expiry then m[7] = expiry end
    local keep = (m[3] > m[7] and m[3] or m[7]) + ttl
    return true, v, { id, expiry, keep }
  end,
  commit = function(key, v, plan)
    call('ZADD', key, string.format('%d', plan[2]), plan[1])
    call('PEXPIRE', key, px_until(plan[3]))
    return { 1, v[1], v[2], v[3], v[4] }
  end,
  deny = function(_, v)
    return { 0, v[1], v[2], v[3], v[4] }
  end,
}

-- Whether lease `id` of `key` is held at now; or nil and a message.
local function held(key, id)
  local s = redis.pcall('ZSCORE', key, id)
  if type(s) == 'table' then return nil, 'leases at ' .. key .. ' are unreadable: ' .. tostring(s.err) end
  return s ~= false and s ~= nil and tonumber(s) > now
end

ITEMS.r = {
  argc = 1,
  check = function(key, p)
    local id = lease_id(ARGV[p])
    if not id then return nil, 'lease id must be a string of 1 to 128 bytes, got ' .. tostring(ARGV[p]) end
    local ok, e = held(key, id)
    if ok == nil then return nil, e end
    return ok, 0, id
  end,
  commit = function(key, _, id)
    call('ZREM', key, id)
    return 1
  end,
  deny = function()
    return 0
  end,
}

ITEMS.e = {
  argc = 2,
  check = function(key, p)
    local id, ttl = lease_id(ARGV[p]), int(ARGV[p + 1], 1)
    if not id then return nil, 'lease id must be a string of 1 to 128 bytes, got ' .. tostring(ARGV[p]) end
    if not ttl then return nil, 'ttl must be an integer of µs >= 1 and < 2^53, got ' .. tostring(ARGV[p + 1]) end
    if now + 2 * ttl >= LIMIT then return nil, 'now + 2 * ttl must stay below 2^53' end
    local ok, e = held(key, id)
    if ok == nil then return nil, e end
    return ok, 0, { id, now + ttl, ttl }
  end,
  commit = function(key, _, plan)
    call('ZADD', key, 'XX', string.format('%d', plan[2]), plan[1])
    -- The key lives one ttl past its newest lease (this one, or a later one).
    local newest = tonumber(call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
    call('PEXPIRE', key, px_until(newest + plan[3]))
    return 1
  end,
  deny = function()
    return 0
  end,
}
