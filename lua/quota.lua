-- tollgate kind: calendar quotas, at most `amount` units per calendar window
-- (hour, day, ISO week, anchored month in a time zone). Part of the script
-- assembled by src/lua.ts (after lua/prologue.lua, whose helpers and call
-- arguments it uses); src/quota.ts is its TypeScript twin. Adjustments of a
-- window's count (settle, refund, penalize) are in lua/settle.lua.
--
-- The client computes the windows (time zones need a calendar library; Lua
-- has none) and sends the boundaries of three: the one before its clock's
-- window, its clock's window, and the one after. The script picks the one
-- that holds `now` (Redis TIME), so clients with skewed clocks agree at a
-- boundary; a `now` outside all three fails the item.
--
-- State: one string per quota key, "<window start µs>:<count>", living until
-- one minute after its window ends (PX; the minute keeps a clock that is a
-- little behind from reading a fresh window as the old one's expiry races
-- it). A count of another window is that window's: a past window counts as
-- 0 here and is replaced on the next write.
--
-- Item tag in "x" checks:
--   "q" Q w0 w1 w2 w3 n    take n units (n >= 0; 0 is a peek) of the window
--                          [w_i, w_i+1) holding now, or nothing, under an
--                          amount Q >= 1 (boundaries: integer µs, increasing).
-- Reply entry: the window's count as the item read it (0 when absent or
-- another window's), or -(that count) - 1 when the check was denied.

-- The helpers settle.lua shares, set by load_quota().
local quota_window, quota_current, quota_commit

-- Loaded lazily (LAZY in lua/prologue.lua): a call without quota items
-- creates none of these functions. lua/settle.lua calls it for its helpers.
local function load_quota()
  if quota_window then return end
  -- The window [start, end) among the three sent that holds now; or nil and a message.
  function quota_window(p)
    local w0, w1, w2, w3 = int(ARGV[p], 0), int(ARGV[p + 1], 0), int(ARGV[p + 2], 0), int(ARGV[p + 3], 0)
    if not (w0 and w1 and w2 and w3 and w0 < w1 and w1 < w2 and w2 < w3) then
      return nil, 'quota windows must be 4 increasing integers >= 0 and < 2^53, got ' .. tostring(ARGV[p]) .. ' '
        .. tostring(ARGV[p + 1]) .. ' ' .. tostring(ARGV[p + 2]) .. ' ' .. tostring(ARGV[p + 3])
    end
    if now >= w1 and now < w2 then return w1, w2 end
    if now >= w2 and now < w3 then return w2, w3 end
    if now >= w0 and now < w1 then return w0, w1 end
    return nil, 'the server clock (' .. now .. ' µs) is outside the quota windows sent [' .. w0 .. ', ' .. w3
      .. ') µs: the client clock is off by more than a window'
  end

  -- The count a quota key holds for the window starting at ws; or nil and a message.
  local function quota_count(key, ws)
    -- pcall: a key of another type fails this check only, not the whole batch.
    local v = redis.pcall('GET', key)
    if not v then return 0 end
    if type(v) == 'table' then return nil, 'quota count at ' .. key .. ' is unreadable: ' .. tostring(v.err) end
    local s, c = string.match(v, '^(%d+):(%d+)$')
    s, c = tonumber(s), tonumber(c)
    if not s or s >= LIMIT or c >= LIMIT then return nil, 'quota count at ' .. key .. ' is not "<start>:<count>" below 2^53' end
    if s ~= ws then return 0 end
    return c
  end

  -- Stores a window's count, living until a minute after the window ends
  -- (PX = ceil((we - now) / 1000) + 60000 ms); a count of 0 deletes.
  local function quota_store(key, ws, we, count)
    if count == 0 then
      call('DEL', key)
      return
    end
    call('SET', key, string.format('%d:%d', ws, count), 'PX', floordiv(we - now + 999, 1000) + 60000)
  end

  -- The count of key in the window starting at ws as stored (memo), and as
  -- earlier items of this check leave it (memo[-1]), by key and window (two
  -- quotas of one unit on one key count separately here, as in the twin);
  -- then the table of pending counts and the slot in it; or nil and a message.
  function quota_current(key, ws, memo)
    local pending = memo[-1]
    if not pending then
      pending = {}
      memo[-1] = pending
    end
    local at = string.format('%d', ws) .. '@' .. key
    local s = memo[at]
    if s == nil then
      local e
      s, e = quota_count(key, ws)
      if not s then return nil, e end
      memo[at] = s
    end
    return s, pending[at] or s, pending, at
  end

  -- Commits a quota item (take or adjustment): writes its planned count, if any; answers the count read.
  function quota_commit(key, s, plan)
    if plan then quota_store(key, plan[1], plan[2], plan[3]) end
    return s
  end

  ITEMS.q = {
    argc = 6,
    check = function(key, p, memo)
      local Q = int(ARGV[p], 1)
      if not Q then return nil, 'quota amount must be an integer >= 1 and < 2^53, got ' .. tostring(ARGV[p]) end
      local ws, we = quota_window(p + 1)
      if not ws then return nil, we end
      local n = int(ARGV[p + 5], 0)
      if not n then return nil, 'n (cost) must be an integer >= 0 and < 2^53, got ' .. tostring(ARGV[p + 5]) end
      local s, used, pending, at = quota_current(key, ws, memo)
      if not s then return nil, used end
      if used + n >= LIMIT then return nil, 'quota count + n must stay below 2^53' end
      -- A peek (n = 0) passes even past the amount (a debt), as it takes nothing.
      if n > 0 and used + n > Q then return false, s end
      if n > 0 then
        pending[at] = used + n
        return true, s, { ws, we, used + n }
      end
      return true, s
    end,
    commit = quota_commit,
    deny = function(_, s)
      return -s - 1
    end,
  }
end
LAZY.q = load_quota
