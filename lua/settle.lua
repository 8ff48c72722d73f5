-- tollgate: adjustments after the fact (settling a reservation, a refund, a
-- penalty) of rate limits (lua/gcra.lua) and quotas (lua/quota.lua), whose
-- helpers it uses; part of the script assembled by src/lua.ts, after them.
-- src/settle.ts is its TypeScript twin. An adjustment item always passes.
--
-- Item tags in "x" checks:
--   "G" i d               move the key's TAT by d emission intervals of
--                         limit i (d an integer; negative gives back, never
--                         earlier than now: a full bucket; positive charges,
--                         even past now + tau: a debt);
--   "Q" w0 w1 w2 w3 d s   change the count of the quota window holding now
--                         (see lua/quota.lua) by d units (never below 0;
--                         past the amount as a debt until the window ends),
--                         only if that window starts at s; s = "": whatever
--                         its start. A window of s that has ended: nothing.
-- Reply entry: the state as the item read it: the stored TAT (0 when
-- absent), or the window's count.

-- Loaded lazily (LAZY in lua/prologue.lua), with the quota helpers it uses.
local function load_settle()
  load_quota()
  ITEMS.G = {
    argc = 2,
    check = function(key, p, memo)
      local i = int(ARGV[p], 1)
      if not i or i > L then return nil, 'limit index must be an integer in [1, ' .. L .. '], got ' .. tostring(ARGV[p]) end
      if bad[i] then return nil, bad[i] end
      local d = int(ARGV[p + 1], 1 - LIMIT)
      if not d then return nil, 'rate adjustment must be an integer in (-2^53, 2^53), got ' .. tostring(ARGV[p + 1]) end
      local T = Ts[i]
      local s, tat, pending = rate_current(key, memo)
      if not s then return nil, tat end
      local new = tat
      if d >= 0 then
        new = tat + d * T
        if new >= LIMIT then return nil, 'TAT + adjustment * T must stay below 2^53' end
      elseif tat > now then
        -- -d * T may pass 2^53 (inexact); it is then far beyond tat - now, and the TAT is now.
        local back = -d * T
        new = back >= tat - now and now or tat - back
      end
      if new == tat then return true, s end
      pending[key] = new
      return true, s, new
    end,
    commit = function(key, s, new)
      if new then
        if new > now then store(key, new) else call('DEL', key) end
      end
      return s
    end,
    deny = function(_, s)
      return s
    end,
  }

  ITEMS.Q = {
    argc = 6,
    check = function(key, p, memo)
      local ws, we = quota_window(p)
      if not ws then return nil, we end
      local d = int(ARGV[p + 4], 1 - LIMIT)
      if not d then return nil, 'quota adjustment must be an integer in (-2^53, 2^53), got ' .. tostring(ARGV[p + 4]) end
      local target = ARGV[p + 5]
      if target ~= '' and not int(target, 0) then
        return nil, 'quota adjustment window must be "" or an integer >= 0, got ' .. tostring(target)
      end
      local s, used, pending, at = quota_current(key, ws, memo)
      if not s then return nil, used end
      if target ~= '' and tonumber(target) ~= ws then return true, s end
      local next = used + d
      if next < 0 then next = 0 end
      if next >= LIMIT then return nil, 'quota count + adjustment must stay below 2^53' end
      if next == used then return true, s end
      pending[at] = next
      return true, s, { ws, we, next }
    end,
    commit = quota_commit,
    deny = function(_, s)
      return s
    end,
  }
end
LAZY.G, LAZY.Q = load_settle, load_settle
