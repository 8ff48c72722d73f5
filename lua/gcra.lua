-- tollgate kind: GCRA (generic cell rate algorithm) rate limits, SPEC
-- sections 1-5. Part of the script assembled by src/lua.ts (after
-- lua/prologue.lua, whose helpers and call arguments it uses); src/gcra.ts is
-- its TypeScript twin.
--
-- A rate item takes n units of a key's bucket under limit i of the call's
-- limit table (ARGV[2 ...]), or nothing. Check encodings:
--   h          (an integer >= 0) one item, take n or nothing, packed as
--              h = n * L + (limit index - 1);
--   "m" c ...  c items (c >= 1), all or nothing, then c pairs
--              (limit index 1..L, n >= 0);
--   "a" i n    one item, take as many as available up to n (>= 1),
--              limit index i.
-- Item tag in "x" checks: "g" i n (limit index i, n >= 0), as in "m".
--
-- Reply entry: the key's stored TAT as its check read it (0 when absent), or
-- -(that TAT) - 1 when the check was denied (nothing written). From now, the
-- TATs and the limits the caller derives granted, remaining, retryAfter and
-- resetAfter with the same formulae, and confirms the verdict.

-- A key's stored TAT (0 when absent), or nil and a message when it is not one.
local function stored(key)
  -- pcall: a key of another type fails this check only, not the whole batch.
  local v = redis.pcall('GET', key)
  if type(v) == 'table' then return nil, 'stored TAT at ' .. key .. ' is unreadable: ' .. tostring(v.err) end
  if not v then return 0 end
  local x = int(v, 0)
  if not x then return nil, 'stored TAT at ' .. key .. ' is not an integer below 2^53' end
  return x
end

-- Stores a TAT with PX = ceil((tat - now) / 1000) ms, at least 1: the key
-- lives exactly until its bucket is full again.
local function store(key, tat)
  local px = floordiv(tat - now + 999, 1000)
  call('SET', key, string.format('%d', tat), 'PX', px < 1 and 1 or px)
end

-- Validates one item; returns T, tau, n or nil and a message.
local function item(li, nv, min)
  local i, n = int(li, 1), int(nv, min)
  if not i or i > L then return nil, 'limit index must be an integer in [1, ' .. L .. '], got ' .. tostring(li) end
  if not n then return nil, 'n (cost) must be an integer >= ' .. min .. ' and < 2^53, got ' .. tostring(nv) end
  if bad[i] then return nil, bad[i] end
  local T, tau = Ts[i], taus[i]
  if now + tau + n * T >= LIMIT then return nil, 'T * B + n * T + now must stay below 2^53' end
  return T, tau, n
end

-- A numeric header h: one item, take n or nothing. The common case, so it
-- is free of tables and helper calls, and not even a function: src/lua.ts
-- inlines this block (between the markers) into the loop of
-- lua/dispatch.lua, where h and packed = tonumber(h) are set.
--[==[inline:numeric
k = k + 1
a = a + 1
local key = KEYS[k]
local n, li = packed, 1
if L > 1 then
  n = packed >= 0 and packed < LIMIT and floordiv(packed, L) or -1
  li = packed - n * L + 1
end
local T, tau = Ts[li], taus[li]
local e
if n < 0 or packed >= LIMIT or packed ~= floor(packed) then
  e = 'packed check must be an integer in [0, 2^53), got ' .. tostring(h)
elseif not T then
  e = bad[li] or 'a packed check needs a limit, and the limit count is 0'
elseif now + tau + n * T >= LIMIT then
  e = 'T * B + n * T + now must stay below 2^53'
end
local s
if not e then
  -- pcall: a key of another type fails this check only, not the whole batch.
  local v = redis.pcall('GET', key)
  if not v then
    s = 0
  elseif type(v) == 'table' then
    e = 'stored TAT at ' .. key .. ' is unreadable: ' .. tostring(v.err)
  else
    s = tonumber(v)
    if s == nil or s ~= floor(s) or s < 0 or s >= LIMIT then
      s, e = nil, 'stored TAT at ' .. key .. ' is not an integer below 2^53'
    end
  end
end
if e then
  reply[k + 1] = fail(e)
else
  local tat = s < now and now or s
  local new = tat + n * T
  if now < new - tau then
    reply[k + 1] = -s - 1
  else
    if n > 0 then
      -- PX = ceil((new - now) / 1000) ms, at least 1, by exact floor division.
      local d = new - now + 999
      local px = floor(d / 1000)
      if px * 1000 > d then px = px - 1 elseif (px + 1) * 1000 <= d then px = px + 1 end
      call('SET', key, string.format('%d', new), 'PX', px < 1 and 1 or px)
    end
    reply[k + 1] = s
  end
end
inline:numeric]==]

-- For an item of a compound check on key: the TAT the key stored (memo[key],
-- read once per check), the TAT earlier items of the check would leave
-- (memo[-1][key]) or else the stored one, at least now, and the table of
-- those pending TATs; or nil and a message.
local function rate_current(key, memo)
  local s = memo[key]
  if s == nil then
    local e
    s, e = stored(key)
    if not s then return nil, e end
    memo[key] = s
  end
  local pending = memo[-1]
  if not pending then
    pending = {}
    memo[-1] = pending
  end
  local tat = pending[key] or s
  if tat < now then tat = now end
  return s, tat, pending
end

-- The compound encodings and the rate item, loaded lazily (LAZY in
-- lua/prologue.lua): a call of packed checks only creates none of them.
local function load_gcra()
  -- "a" i n: one item, take as many as available up to n.
  CHECKS.a = function()
    k = k + 1
    local T, tau, n = item(ARGV[a + 1], ARGV[a + 2], 1)
    a = a + 3
    local s, e
    if T then s, e = stored(KEYS[k]) else e = tau end
    if not s then
      reply[k + 1] = fail(e)
    else
      local tat = s < now and now or s
      local free = tau - (tat - now)
      local avail = free > 0 and floordiv(free, T) or 0
      if avail < 1 then
        reply[k + 1] = -s - 1
      else
        store(KEYS[k], tat + (n < avail and n or avail) * T)
        reply[k + 1] = s
      end
    end
    return true
  end

  -- "m" c, then c (limit index, n) pairs: several rate items, all or nothing.
  CHECKS.m = function()
    local c = int(ARGV[a + 1], 1)
    if not c or k + c > nkeys or a + 1 + 2 * c > #ARGV then return false end
    local first, p = k + 1, a + 2
    k = k + c
    a = a + 2 + 2 * c
    compound(first, c, p, 'g')
    return true
  end

  -- A rate item of a compound check.
  ITEMS.g = {
    argc = 2,
    check = function(key, p, memo)
      local T, tau, n = item(ARGV[p], ARGV[p + 1], 0)
      if not T then return nil, tau end
      local s, tat, pending = rate_current(key, memo)
      if not s then return nil, tat end
      if now < tat + n * T - tau then return false, s end
      if n > 0 then
        pending[key] = tat + n * T
        return true, s, tat + n * T
      end
      return true, s
    end,
    commit = function(key, s, new)
      if new then store(key, new) end
      return s
    end,
    deny = function(_, s)
      return -s - 1
    end,
  }
end
LAZY.a, LAZY.m, LAZY.g = load_gcra, load_gcra, load_gcra
