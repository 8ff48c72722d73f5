-- tollgate: GCRA (generic cell rate algorithm) checks, evaluated atomically.
--
-- One call evaluates a batch of checks in order, all at one `now`. Each check
-- holds one or more items (key, emission interval, burst, cost) and is
-- all-or-nothing: when any item is denied, no item of that check is written.
-- All times are integer microseconds; every value stays below 2^53, so Lua's
-- doubles hold them exactly. The contract is ../shared/SPEC.md sections 1-5.
--
-- KEYS: the keys of every item of every check, in order.
-- ARGV[1]: now in integer microseconds since the Unix epoch, or "" to read the
--          server clock (TIME).
-- ARGV[2]: the number of checks C (>= 1).
-- Then, per check: mode (0 = take n or nothing, 1 = take at most n),
--                  item count m (>= 1; exactly 1 for mode 1),
--                  then per item: T (emission interval, >= 1),
--                                 B (burst, >= 1), n (cost, >= 0; >= 1 for mode 1).
--
-- Reply: one entry per check, in order. An invalid check answers an error
-- reply in its slot (nothing written, other checks unaffected); a valid one
-- answers { allowed (0/1), now, then per item:
--   allowed (0/1), granted, remaining, retryAfter (-1 = never), resetAfter, tat }
-- where tat is the item's theoretical arrival time after the check.

local LIMIT = 9007199254740992 -- 2^53: every product must stay below this

-- Parses an integer argument in [min, 2^53); returns nil and a message otherwise.
local function integer(value, name, min)
  local x = tonumber(value)
  if x == nil or x ~= x or x ~= math.floor(x) or x < min or x >= LIMIT then
    return nil, name .. ' must be an integer >= ' .. min .. ' and < 2^53, got ' .. tostring(value)
  end
  return x
end

-- Exact floor(a / b) for integers a >= 0 and b >= 1, correcting the double division.
local function floordiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end

if redis.replicate_commands then
  redis.replicate_commands()
end

local now
if ARGV[1] == '' or ARGV[1] == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  local err
  now, err = integer(ARGV[1], 'now', 0)
  if not now then
    return redis.error_reply('ERR tollgate: ' .. err)
  end
end

local checks, cerr = integer(ARGV[2], 'check count', 1)
if not checks then
  return redis.error_reply('ERR tollgate: ' .. cerr)
end

local arg = 3 -- next ARGV index
local key = 1 -- next KEYS index
local replies = {}

-- Reads and validates one check's header and items; advances arg and key.
-- Returns mode, items or nil and a message (the cursors still skip the check).
local function parse()
  local mode = tonumber(ARGV[arg])
  local m = tonumber(ARGV[arg + 1])
  if m == nil or m ~= math.floor(m) or m < 1 or m > #KEYS then
    return nil, nil, 'item count must be an integer >= 1, got ' .. tostring(ARGV[arg + 1]), true
  end
  local startArg, startKey = arg + 2, key
  arg = arg + 2 + 3 * m
  key = key + m
  if arg - 1 > #ARGV or key - 1 > #KEYS then
    return nil, nil, 'check declares ' .. m .. ' items but KEYS/ARGV are too short', true
  end
  if mode ~= 0 and mode ~= 1 then
    return nil, nil, 'mode must be 0 or 1, got ' .. tostring(ARGV[startArg - 2])
  end
  if mode == 1 and m ~= 1 then
    return nil, nil, 'mode 1 (at most n) takes exactly one item, got ' .. m
  end
  local items = {}
  for i = 1, m do
    local a = startArg + 3 * (i - 1)
    local T, e1 = integer(ARGV[a], 'T (emission interval)', 1)
    if not T then return nil, nil, e1 end
    local B, e2 = integer(ARGV[a + 1], 'B (burst)', 1)
    if not B then return nil, nil, e2 end
    local n, e3 = integer(ARGV[a + 2], 'n (cost)', mode)
    if not n then return nil, nil, e3 end
    local tau = T * B
    if tau >= LIMIT or n * T >= LIMIT or now + tau + n * T >= LIMIT then
      return nil, nil, 'T * B + n * T + now must stay below 2^53'
    end
    items[i] = { key = KEYS[startKey + i - 1], T = T, tau = tau, n = n }
  end
  return mode, items
end

-- Current TAT of a key: pending writes of this check first, then Redis.
local function load(k, pending)
  local tat = pending[k]
  if tat == nil then
    local stored = redis.call('GET', k)
    if stored then
      tat = tonumber(stored)
      if tat == nil or tat ~= math.floor(tat) or tat >= LIMIT then
        return nil, 'stored TAT at ' .. k .. ' is not an integer below 2^53'
      end
    else
      tat = now
    end
  end
  if tat < now then tat = now end
  return tat
end

for c = 1, checks do
  local mode, items, perr, fatal = parse()
  if not mode then
    replies[c] = redis.error_reply('ERR tollgate: ' .. perr)
    if fatal then
      -- The cursors can no longer be trusted: fail the remaining checks too.
      for d = c + 1, checks do replies[d] = redis.error_reply('ERR tollgate: unreadable after check ' .. c) end
      break
    end
  else
    local pending = {} -- key -> tentative new TAT within this check
    local out = {}
    local all = true
    local lerr
    for i, it in ipairs(items) do
      local tat, e = load(it.key, pending)
      if not tat then lerr = e; break end
      local T, tau, n = it.T, it.tau, it.n
      local used = tat - now -- time already committed ahead of now
      if mode == 1 then
        local free = tau - used
        if free < 0 then free = 0 end
        local avail = floordiv(free, T)
        if avail < 1 then
          all = false
          out[i] = { 0, 0, 0, T - (tau - used), used, tat }
        else
          local g = n
          if avail < g then g = avail end
          local new = tat + g * T
          pending[it.key] = new
          out[i] = { 1, g, avail - g, 0, new - now, new, new }
        end
      else
        local new = tat + n * T
        local allowAt = new - tau
        if now < allowAt then
          all = false
          local retry = allowAt - now
          if n * T > tau then retry = -1 end
          local free = tau - used
          local rem = 0
          if free > 0 then rem = floordiv(free, T) end
          out[i] = { 0, 0, rem, retry, used, tat }
        else
          if n > 0 then pending[it.key] = new end
          out[i] = { 1, n, floordiv(now - allowAt, T), 0, new - now, new, n > 0 and new or nil }
        end
      end
    end
    if lerr then
      replies[c] = redis.error_reply('ERR tollgate: ' .. lerr)
    else
      if all then
        for i, it in ipairs(items) do
          local o = out[i]
          if o[7] then
            -- ceil((new - now) / 1000) ms, at least 1: the key outlives its TAT by < 1 ms.
            local px = floordiv(o[5] + 999, 1000)
            if px < 1 then px = 1 end
            redis.call('SET', it.key, string.format('%d', o[7]), 'PX', px)
          end
        end
      end
      local reply = { all and 1 or 0, now }
      for i, it in ipairs(items) do
        local o = out[i]
        if not all and o[1] == 1 then
          -- Allowed on its own but not written: report the unchanged state.
          local tat = load(it.key, {})
          local used = tat - now
          local free = it.tau - used
          local rem = 0
          if free > 0 then rem = floordiv(free, it.T) end
          o = { 1, 0, rem, 0, used, tat }
        end
        local r = #reply
        reply[r + 1] = o[1]
        reply[r + 2] = o[2]
        reply[r + 3] = o[3]
        reply[r + 4] = o[4]
        reply[r + 5] = o[5]
        reply[r + 6] = o[6]
      end
      replies[c] = reply
    end
  end
end

return replies
