-- tollgate kind: concurrency limits, at most `max` leases held at once per
-- key, each expiring on its own `ttl` after it was taken or renewed.
-- Part of the script assembled by src/lua.ts (after lua/prologue.lua, whose
-- helpers it uses); src/concurrency-kind.ts is its TypeScript twin.
--
-- A key's leases live in one sorted set: member = lease id (chosen by the
-- client, unique and unguessable), score = expiry in µs on the call's clock.
-- A lease is held while now < its expiry; every acquire first
-- removes the expired ones (ZREMRANGEBYSCORE -inf now, skipped when ZCARD
-- finds no key) and counts them, so
-- the leases of a process that died free themselves after their ttl. A
-- release removes its lease if it is still in the set (held, or expired but
-- not yet removed: a late release, which is then not counted as expired). Each
-- write keeps the key (PEXPIRE, never shortened) until one ttl past the
-- lease it wrote, so leases that expire unreleased are still there to be
-- counted by the next acquire for a while.
--
-- Check encodings (one item each, free of the compound machinery):
--   "C" max ttl id   acquire: take lease `id` for ttl µs (max, ttl >= 1);
--                    passes when fewer than max leases are held.
--   "R" id           release: removes lease `id`; passes when it was there.
--   "E" id ttl       extend: passes when lease `id` is held; it then expires
--                    ttl µs after now.
-- Item tags in "x" checks: "c" max ttl id, "r" id, "e" id ttl, the same
-- (an acquire counts the items before it in the check on the same key).
--
-- Reply entries:
--   acquire   { v, count, oldest, expired }: v = 1 when the check was allowed
--             (the lease was added), 0 when denied; count = leases held before
--             the check; oldest = the earliest expiry among them (read only
--             when the item found the key full, else 0); expired = leases this
--             item removed as expired (0 for a key an earlier item of the check
--             already read). An allowed acquire whose count and expired are
--             both below 2^26 answers the integer count * 2^26 + expired
--             instead (its v is 1 and its oldest 0): a table costs the script
--             and the reply more than the rest of the entry's work.
--   release   1 when the lease was there and is removed, 0 when it was not,
--             2 when it was there but the check was denied.
--   extend    1 when the lease was held and is renewed, 0 when it was not held,
--             2 when it was held but the check was denied.

-- Loaded lazily (LAZY in lua/prologue.lua), in two parts: load_concurrency
-- (the helpers and the "C", "R", "E" check encodings) and load_lease_items
-- (the compound items "c", "r", "e", which need the first part). A call
-- without concurrency items creates none of these functions, and a call of
-- plain acquires and releases none of the compound items' (each function
-- defined here is created anew on every call that loads it).
-- The helpers load_lease_items shares, assigned by load_concurrency:
local lease_err, lease_id, lease_ttl, prune, add, remove, granted, oldest, held, expiry_of, renew, status_entry

-- Looked up once per call instead of once per use.
local type, pcall_redis = type, redis.pcall

local function load_concurrency()
  lease_err = 'lease id must be a string of 1 to 128 bytes, got '
  local ttl_err = 'ttl must be an integer of µs >= 1 and < 2^53, got '
  -- PEXPIRE's GT option (Redis 7): extend a key's life, never shorten it.
  local pexpire_gt = (tonumber(redis.REDIS_VERSION_NUM) or 0) >= 0x070000
  -- now as the integer text ZREMRANGEBYSCORE takes (made once per call).
  local now_text = string.format('%d', now)

  lease_id = function(v)
    if v == nil or v == '' or #v > 128 then return nil end
    return v
  end

  -- The lease lifetime at ARGV[p] as µs, or nil and a message.
  lease_ttl = function(p)
    local ttl = int(ARGV[p], 1)
    if not ttl then return nil, ttl_err .. tostring(ARGV[p]) end
    if now + 2 * ttl >= LIMIT then return nil, 'now + 2 * ttl must stay below 2^53' end
    return ttl
  end

  -- What this call knows of each key it has pruned: held_of[key] = the
  -- leases held now (after the prune and this call's writes); px_of[key] = a
  -- lifetime in ms this call made sure the key has, nil when none or when
  -- the key was deleted since (two flat tables: a table per key would cost
  -- more than the lookups it saves). `now` is the call's throughout, so a key
  -- pruned once has nothing more to prune, and one PEXPIRE covers the leases
  -- of the same ttl that later checks of the call add (a hot key's batch
  -- pays one ZCARD, one prune and one PEXPIRE, then a ZADD per lease).
  local held_of, px_of = {}, {}

  -- Removes the expired leases of `key` (once per call); returns the leases
  -- still held and how many this removed, or nil and a message. A key
  -- without leases does not exist (Redis deletes an emptied sorted set), so
  -- ZCARD comes first and an absent key costs no ZREMRANGEBYSCORE.
  prune = function(key)
    local h = held_of[key]
    if h then return h, 0 end
    -- pcall: a key of another type fails this check only, not the whole batch.
    local count = pcall_redis('ZCARD', key)
    if type(count) == 'table' then return nil, 'leases at ' .. key .. ' are unreadable: ' .. tostring(count.err) end
    local expired = 0
    if count > 0 then
      expired = call('ZREMRANGEBYSCORE', key, '-inf', now_text)
      count = count - expired
    end
    held_of[key] = count
    return count, expired
  end

  -- For a lease of `ttl` µs taken now: its expiry as the integer text a
  -- score is written in, and the key's lifetime in ms (one ttl past that
  -- expiry, rounded up). Made once per ttl and call: every lease of a call
  -- with the same ttl expires at the same time.
  local times = {}
  local function lease_times(ttl)
    local t = times[ttl]
    if not t then
      local px = floordiv(2 * ttl + 999, 1000)
      t = { string.format('%d', now + ttl), px, string.format('%d', px) }
      times[ttl] = t
    end
    return t[1], t[2], t[3]
  end

  -- Keeps existing `key` at least `px` ms, never shortening its life; nothing
  -- to do when this call already gave it that much.
  local function keep(key, px, px_text)
    local p = px_of[key]
    if p and p >= px then return end
    if pexpire_gt then
      call('PEXPIRE', key, px_text, 'GT')
    elseif call('PTTL', key) < px then
      call('PEXPIRE', key, px_text)
    end
    if held_of[key] then px_of[key] = px end
  end

  -- Adds lease `id` to pruned `key` for `ttl` µs, and keeps the key one ttl
  -- past the lease's expiry.
  add = function(key, id, ttl)
    local h = held_of[key]
    local score, px, px_text = lease_times(ttl)
    -- 0 for an id already held (ids are unique, but the script does not rely on it).
    local added = call('ZADD', key, score, id)
    if h == 0 then
      -- The ZADD made the key: it has no expiry yet.
      call('PEXPIRE', key, px_text)
      px_of[key] = px
    else
      keep(key, px, px_text)
    end
    held_of[key] = h + added
  end

  -- Removes lease `id` of `key`; returns 1 when it was there, 0 when not, or
  -- an error reply (a key of another type).
  remove = function(key, id)
    -- pcall: a key of another type fails this check only, not the whole batch.
    local removed = pcall_redis('ZREM', key, id)
    if type(removed) == 'table' then return fail('leases at ' .. key .. ' are unreadable: ' .. tostring(removed.err)) end
    if removed == 1 then
      local h = held_of[key]
      if h then
        h = h - 1
        held_of[key] = h
        -- The last lease gone: Redis deleted the key, and its expiry with it.
        if h == 0 then px_of[key] = nil end
      end
    end
    return removed
  end

  -- The reply entry of an allowed acquire (see "Reply entries" above).
  granted = function(count, expired)
    if count < 67108864 and expired < 67108864 then return count * 67108864 + expired end
    return { 1, count, 0, expired }
  end

  oldest = function(key)
    return tonumber(call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  end

  -- The expiry (score) of lease `id` of `key`, false when it is not in the
  -- set; or nil and a message.
  expiry_of = function(key, id)
    -- pcall: a key of another type fails this check only, not the whole batch.
    local s = redis.pcall('ZSCORE', key, id)
    if type(s) == 'table' then return nil, 'leases at ' .. key .. ' are unreadable: ' .. tostring(s.err) end
    if s == false or s == nil then return false end
    return tonumber(s)
  end

  -- Whether lease `id` of `key` is held at now; or nil and a message.
  held = function(key, id)
    local s, e = expiry_of(key, id)
    if s == nil then return nil, e end
    return s ~= false and s > now
  end

  -- The reply entry of a release or extend item in a denied check (its status, 0 or 2).
  status_entry = function(_, v)
    return v
  end

  -- Renews held lease `id` of `key` to expire `ttl` µs from now.
  renew = function(key, id, ttl)
    local score, px, px_text = lease_times(ttl)
    call('ZADD', key, 'XX', score, id)
    keep(key, px, px_text)
  end

  -- The (max, ttl) arguments of the last "C" check read, and what they meant:
  -- the checks of a batch mostly share a limit, whose text then is parsed once.
  local seen_max, seen_ttl, last_max, last_ttl, last_err

  CHECKS.C = function()
    k = k + 1
    local key = KEYS[k]
    local max_text, ttl_text = ARGV[a + 1], ARGV[a + 2]
    if max_text ~= seen_max or ttl_text ~= seen_ttl then
      seen_max, seen_ttl = max_text, ttl_text
      last_max, last_ttl, last_err = int(max_text, 1), lease_ttl(a + 2)
      if not last_max then last_err = 'max (leases) must be an integer >= 1 and < 2^53, got ' .. tostring(max_text) end
    end
    local id = ARGV[a + 3]
    a = a + 4
    local e = last_err
    -- lease_id(), inlined.
    if not e and (id == nil or id == '' or #id > 128) then e = lease_err .. tostring(id) end
    local count, expired = held_of[key], 0
    if e then
      count = nil
    elseif not count then
      count, expired = prune(key)
    end
    if not count then
      -- An invalid argument (e), or prune's message (its second value).
      reply[k + 1] = fail(e or expired)
      return true
    end
    if count >= last_max then
      reply[k + 1] = { 0, count, oldest(key), expired }
      return true
    end
    add(key, id, last_ttl)
    reply[k + 1] = granted(count, expired)
    return true
  end

  CHECKS.R = function()
    k = k + 1
    local key, id = KEYS[k], ARGV[a + 1]
    a = a + 2
    -- lease_id(), inlined.
    if id == nil or id == '' or #id > 128 then
      reply[k + 1] = fail(lease_err .. tostring(id))
      return true
    end
    reply[k + 1] = remove(key, id)
    return true
  end

  CHECKS.E = function()
    k = k + 1
    local key, id = KEYS[k], lease_id(ARGV[a + 1])
    local ttl, e = lease_ttl(a + 2)
    a = a + 3
    if not id then e = lease_err .. tostring(ARGV[a - 2]) end
    local ok
    if not e then ok, e = held(key, id) end
    if e then
      reply[k + 1] = fail(e)
    elseif ok then
      renew(key, id, ttl)
      reply[k + 1] = 1
    else
      reply[k + 1] = 0
    end
    return true
  end

end

LAZY.C, LAZY.R, LAZY.E = load_concurrency, load_concurrency, load_concurrency

-- The compound items (left out of the lean scripts, see lua/prologue.lua).
-- @compound begin
local function load_lease_items()
  if not prune then load_concurrency() end

  -- The leases of `key` as the first item of a check on it found them (memo[key]):
  -- { count, oldest (0 until read), expired, taken by earlier items }, and
  -- true for that first item; or nil and a message.
  local function leases(key, memo)
    local m = memo[key]
    if m then return m, false end
    local count, expired = prune(key)
    if not count then return nil, expired end
    m = { count, 0, expired, 0 }
    memo[key] = m
    return m, true
  end

  ITEMS.c = {
    argc = 3,
    check = function(key, p, memo)
      local max, ttl, e = int(ARGV[p], 1), lease_ttl(p + 1)
      local id = lease_id(ARGV[p + 2])
      if not max then return nil, 'max (leases) must be an integer >= 1 and < 2^53, got ' .. tostring(ARGV[p]) end
      if not ttl then return nil, e end
      if not id then return nil, lease_err .. tostring(ARGV[p + 2]) end
      local m, first = leases(key, memo)
      if not m then return nil, first end
      local v = { m[1], 0, first and m[3] or 0 }
      if m[1] + m[4] >= max then
        -- Full: the oldest lease says when one frees itself.
        if m[1] > 0 and m[2] == 0 then m[2] = oldest(key) end
        v[2] = m[2]
        return false, v
      end
      m[4] = m[4] + 1
      return true, v, { id, ttl }
    end,
    commit = function(key, v, plan)
      add(key, plan[1], plan[2])
      return granted(v[1], v[3])
    end,
    deny = function(_, v)
      return { 0, v[1], v[2], v[3] }
    end,
  }

  ITEMS.r = {
    argc = 1,
    check = function(key, p)
      local id = lease_id(ARGV[p])
      if not id then return nil, lease_err .. tostring(ARGV[p]) end
      local s, e = expiry_of(key, id)
      if s == nil then return nil, e end
      local present = s ~= false
      return present, present and 2 or 0, id
    end,
    commit = function(key, _, id)
      remove(key, id)
      return 1
    end,
    deny = status_entry,
  }

  ITEMS.e = {
    argc = 2,
    check = function(key, p)
      local id = lease_id(ARGV[p])
      if not id then return nil, lease_err .. tostring(ARGV[p]) end
      local ttl, e = lease_ttl(p + 1)
      if not ttl then return nil, e end
      local ok
      ok, e = held(key, id)
      if ok == nil then return nil, e end
      return ok, ok and 2 or 0, { id, ttl }
    end,
    commit = function(key, _, plan)
      renew(key, plan[1], plan[2])
      return 1
    end,
    deny = status_entry,
  }
end
LAZY.c, LAZY.r, LAZY.e = load_lease_items, load_lease_items, load_lease_items
-- @compound end
