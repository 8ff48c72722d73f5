-- tollgate: GCRA (generic cell rate algorithm) checks, evaluated atomically.
--
-- One call evaluates a batch of checks in order, all at one `now`. A check
-- holds one or more items (key, limit, cost) and is all-or-nothing: when any
-- item is denied, no item of that check is written. All times are integer
-- microseconds below 2^53, which Lua's doubles hold exactly. The contract is
-- SPEC sections 1-5; src/gcra.ts is this script's TypeScript twin, and
-- src/redis-codec.ts builds the arguments and reads the reply.
--
-- KEYS: the key of every item of every check, in order.
-- ARGV[1]  now in integer µs since the Unix epoch, or "" to read Redis TIME.
-- ARGV[2]  L, the number of distinct limits (>= 1), then L pairs:
--          T (emission interval µs, >= 1), B (burst, >= 1); an invalid pair
--          fails only the checks that use it.
-- next     C, the number of checks (>= 1), then per check one of:
--          h          (an integer >= 0) one item, take n or nothing, packed as
--                     h = n * L + (limit index - 1);
--          "m" c ...  c items (c >= 1), all or nothing, then c pairs
--                     (limit index 1..L, n >= 0);
--          "a" i n    one item, take as many as available up to n (>= 1),
--                     limit index i.
--
-- Reply: { now, e_1, ..., e_K }, one entry per key in KEYS order: the key's
-- stored TAT as its check read it (0 when absent), or -(that TAT) - 1 when the
-- check was denied (nothing written). An invalid check answers an error reply
-- in each of its slots and writes nothing; other checks are unaffected. From
-- now, the TATs and the limits the caller derives granted, remaining,
-- retryAfter and resetAfter with the same formulae, and confirms the verdict.

local LIMIT = 9007199254740992 -- 2^53: every value and product stays below it
local floor = math.floor
local tonumber = tonumber
local call = redis.call

-- Exact floor(a / b) for integers a >= 0 and b >= 1 (corrects the double quotient).
local function floordiv(a, b)
  local q = floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

local function fail(msg)
  return redis.error_reply('ERR tollgate: ' .. msg)
end

-- The argument as an integer in [min, 2^53), or nil.
local function int(value, min)
  local x = tonumber(value)
  if x == nil or x ~= floor(x) or x < min or x >= LIMIT then return nil end
  return x
end

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
local function store(key, tat, now)
  local px = floordiv(tat - now + 999, 1000)
  call('SET', key, string.format('%d', tat), 'PX', px < 1 and 1 or px)
end

if redis.replicate_commands then redis.replicate_commands() end

local now
if ARGV[1] == '' then
  local t = call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = int(ARGV[1], 0)
  if not now then return fail('now must be an integer >= 0 and < 2^53, got ' .. tostring(ARGV[1])) end
end

local L = int(ARGV[2], 1)
if not L then return fail('limit count must be an integer >= 1, got ' .. tostring(ARGV[2])) end
-- Bounds the loop below by the arguments actually given.
if 2 + 2 * L > #ARGV then return fail('limit count ' .. ARGV[2] .. ' is more than the (T, B) pairs given') end
local Ts, taus, bad = {}, {}, {}
for i = 1, L do
  -- An invalid limit fails only the checks that use it.
  local T, B = int(ARGV[1 + 2 * i], 1), int(ARGV[2 + 2 * i], 1)
  if not T then
    bad[i] = 'T (emission interval) of limit ' .. i .. ' must be an integer >= 1 and < 2^53, got ' .. tostring(ARGV[1 + 2 * i])
  elseif not B then
    bad[i] = 'B (burst) of limit ' .. i .. ' must be an integer >= 1 and < 2^53, got ' .. tostring(ARGV[2 + 2 * i])
  elseif T * B >= LIMIT then
    bad[i] = 'T * B of limit ' .. i .. ' must stay below 2^53'
  else
    Ts[i], taus[i] = T, T * B
  end
end

local a = 3 + 2 * L -- ARGV cursor
local C = int(ARGV[a], 1)
if not C then return fail('check count must be an integer >= 1, got ' .. tostring(ARGV[a])) end
a = a + 1
local nkeys = #KEYS
local reply = { now }
local k = 0 -- KEYS used so far

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

for _ = 1, C do
  local h = ARGV[a]
  local packed = tonumber(h)
  if packed ~= nil and k < nkeys then
    -- One item, take n or nothing: the common case, inlined and free of
    -- tables and helper calls (it dominates the script's cost per check).
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
      e = bad[li]
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
  elseif h == 'a' and k < nkeys then
    -- One item, take as many as available up to n.
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
        store(KEYS[k], tat + (n < avail and n or avail) * T, now)
        reply[k + 1] = s
      end
    end
  else
    -- Several items, all or nothing.
    local c = h == 'm' and int(ARGV[a + 1], 1)
    if not c or k + c > nkeys or a + 1 + 2 * c > #ARGV then
      -- The cursors cannot be trusted any more: fail every remaining slot.
      local e = fail('check at ARGV[' .. a .. '] is unreadable (' .. tostring(h) .. ')')
      for i = k + 1, nkeys do reply[i + 1] = e end
      return reply
    end
    local first, base = k + 1, a + 2
    k = k + c
    a = a + 2 + 2 * c
    local tats, news, seen, pending = {}, {}, {}, {}
    local allowed, err = true, nil
    for i = 1, c do
      local T, tau, n = item(ARGV[base + 2 * i - 2], ARGV[base + 2 * i - 1], 0)
      if not T then err = tau; break end
      local key = KEYS[first + i - 1]
      local s = seen[key]
      if s == nil then
        local e
        s, e = stored(key)
        if not s then err = e; break end
        seen[key] = s
      end
      tats[i] = s
      local tat = pending[key] or s
      if tat < now then tat = now end
      if now < tat + n * T - tau then
        allowed = false
      elseif n > 0 then
        pending[key] = tat + n * T
        news[i] = tat + n * T
      end
    end
    if err then
      local e = fail(err)
      for i = first, k do reply[i + 1] = e end
    elseif allowed then
      for i = 1, c do
        if news[i] then store(KEYS[first + i - 1], news[i], now) end
        reply[first + i] = tats[i]
      end
    else
      for i = 1, c do reply[first + i] = -tats[i] - 1 end
    end
  end
end

return reply
