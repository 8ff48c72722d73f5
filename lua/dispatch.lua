-- tollgate: the end of the assembled script (src/lua.ts): evaluates the
-- call's checks in order with the encodings the kinds registered in CHECKS
-- (a numeric header is GCRA's packed single item, whose block src/lua.ts
-- inlines from lua/gcra.lua), then answers the reply documented in
-- lua/prologue.lua.

for _ = 1, C do
  local h = ARGV[a]
  -- A loaded encoding first: tonumber() of a letter costs more than the lookup.
  local run = CHECKS[h]
  local packed = not run and h ~= nil and tonumber(h)
  if packed and k < nkeys then
    --@inline numeric
  else
    if not run then
      local load = LAZY[h]
      if load then
        load()
        run = CHECKS[h]
      end
    end
    if not run or k >= nkeys or not run() then
      -- The cursors cannot be trusted any more: fail every remaining slot.
      local e = fail('check at ARGV[' .. a .. '] is unreadable (' .. tostring(h) .. ')')
      for i = k + 1, nkeys do reply[i + 1] = e end
      return reply
    end
  end
end

return reply
