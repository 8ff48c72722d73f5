-- tollgate: the shared start of the one script every store call runs.
--
-- src/lua.ts assembles that script from lua/prologue.lua (this file: helpers,
-- the call's arguments, the kind registries, all-or-nothing compound checks),
-- then one file per kind of limit (lua/gcra.lua, ...), then lua/dispatch.lua
-- (the loop over the checks). One call evaluates a batch of checks in order,
-- all at one `now`; a check holds one or more items (a key and what to do
-- with it) and is all-or-nothing: when any item is denied, no item of that
-- check is written. All times are integer microseconds below 2^53, which
-- Lua's doubles hold exactly. src/redis-codec.ts builds the arguments and
-- reads the reply; each kind has a TypeScript twin (src/gcra.ts, ...).
--
-- KEYS: the key of every item of every check, in order.
-- ARGV[1]  now in integer µs since the Unix epoch, or "" to read Redis TIME.
-- ARGV[2]  L, the number of distinct rate limits (>= 0), then L pairs:
--          T (emission interval µs, >= 1), B (burst, >= 1); an invalid pair
--          fails only the checks that use it. A call without rate items
--          sends L = 0.
-- next     C, the number of checks (>= 1), then per check one of:
--          - a check encoding of a kind (GCRA: a packed integer, "a", "m"; see
--            the kind's file);
--          - "x" c, then c items, all or nothing, each a kind's item tag and
--            that item's arguments (any mix of kinds; see ITEMS below).
--
-- Reply: { now, e_1, ..., e_K }, one entry per key in KEYS order, in the form
-- the item's kind documents (for GCRA, the stored TAT; negated - 1 when the
-- check was denied). An invalid check answers an error reply in each of its
-- slots and writes nothing; other checks are unaffected. An unreadable check
-- header fails every remaining slot (the cursors cannot be trusted).
--
-- Adding a kind: write lua/<kind>.lua registering its item tags in ITEMS
-- (and, optionally, compact check encodings of its own in CHECKS), add the
-- file to src/lua.ts, and give it a TypeScript twin (see src/kinds.ts).

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

-- Redis 7 (which has REDIS_VERSION_NUM) replicates effects only; older servers are asked to.
if not redis.REDIS_VERSION_NUM and redis.replicate_commands then redis.replicate_commands() end

local now
if ARGV[1] == '' then
  local t = call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = int(ARGV[1], 0)
  if not now then return fail('now must be an integer >= 0 and < 2^53, got ' .. tostring(ARGV[1])) end
end

local L = int(ARGV[2], 0) -- 0 when the call has no rate items
if not L then return fail('limit count must be an integer >= 0, got ' .. tostring(ARGV[2])) end
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

local a = 3 + 2 * L -- ARGV cursor: the header of the next check
local C = int(ARGV[a], 1)
if not C then return fail('check count must be an integer >= 1, got ' .. tostring(ARGV[a])) end
a = a + 1
local nkeys = #KEYS
local reply = { now }
local k = 0 -- KEYS used so far

-- Check encodings: CHECKS[header] = function() ... end reads the check at
-- ARGV[a] for KEYS[k + 1 ...], writes its reply slots, advances a and k, and
-- returns true; or returns false, touching nothing, when the check is
-- unreadable. A header that is a number is GCRA's (inlined into the loop).
local CHECKS = {}
local LAZY = {}

-- The compound machinery, from here to the end marker: the lean scripts of
-- src/lua.ts (packed-only, leases-only) leave out every section between
-- "-- @compound begin" and "-- @compound end" lines, here and in the kinds'
-- files, since their calls hold single-item checks of a kind's own
-- encodings only (and the packed-only script leaves out every kind's file
-- but its inlined blocks): such calls then create none of these functions.
-- @compound begin

-- Item kinds of compound checks: ITEMS[tag] = { argc = n, check = f, commit = f, deny = f }.
--   check(key, p, memo)  reads the item's n arguments at ARGV[p ...] and the
--     key's state; writes nothing. Returns passes (boolean), then a value and
--     a plan handed back below; or nil and an error message (fails the check).
--     `memo` is a table per check and per tag, for items on a repeated key.
--   commit(key, value, plan)  called for every item when all passed: writes,
--     and returns the item's reply entry.
--   deny(key, value)  called for every item when some item did not pass:
--     returns the item's reply entry (nothing is written).
local ITEMS = {}

-- Evaluates one all-or-nothing check of c items for KEYS[first ...], the
-- first item's arguments at ARGV[p]. With `tag`, every item is of that kind
-- and has no tag of its own; without, each item starts with its tag. The
-- caller has checked that the items' arguments are within ARGV.
local function compound(first, c, p, tag)
  local vals, plans, kinds, memos = {}, {}, {}, {}
  local allowed, err = true, nil
  for i = 1, c do
    local t = tag
    if not t then
      t = ARGV[p]
      p = p + 1
    end
    local kind = ITEMS[t]
    local memo = memos[t]
    if not memo then
      memo = {}
      memos[t] = memo
    end
    local ok, v, plan = kind.check(KEYS[first + i - 1], p, memo)
    if ok == nil then
      err = v
      break
    end
    if not ok then allowed = false end
    vals[i], plans[i], kinds[i] = v, plan, kind
    p = p + kind.argc
  end
  if err then
    local e = fail(err)
    for i = first, first + c - 1 do reply[i + 1] = e end
  elseif allowed then
    for i = 1, c do reply[first + i] = kinds[i].commit(KEYS[first + i - 1], vals[i], plans[i]) end
  else
    for i = 1, c do reply[first + i] = kinds[i].deny(KEYS[first + i - 1], vals[i]) end
  end
end

-- A kind may register lazily: LAZY[header or tag] = its loader, a function
-- that fills CHECKS and ITEMS (LAZY is declared above, for lua/dispatch.lua).
-- The dispatch loop runs the loader of a header missing from CHECKS, and the
-- first lookup of a tag missing from ITEMS runs its loader, so a call creates
-- the functions of the kinds it uses only (every function defined at the top
-- level is created anew on every call, which costs a call of one check
-- dearly).
local function lazy(t, name)
  local load = name ~= nil and LAZY[name]
  if not load then return nil end
  load()
  return rawget(t, name)
end
setmetatable(ITEMS, { __index = lazy })

-- "x" c, then c tagged items of any kinds, all or nothing (loaded lazily).
LAZY.x = function()
  CHECKS.x = function()
    local c = int(ARGV[a + 1], 1)
    if not c or k + c > nkeys then return false end
    -- Walk the tags first: the check must be readable to the end.
    local p = a + 2
    for _ = 1, c do
      local kind = ITEMS[ARGV[p]]
      if not kind then return false end
      p = p + 1 + kind.argc
    end
    if p - 1 > #ARGV then return false end
    local first, start = k + 1, a + 2
    k = k + c
    a = p
    compound(first, c, start, nil)
    return true
  end
end
-- @compound end
