-- Benchmark baseline: the straightforward GCRA script, one key per call.
-- Integer microseconds throughout; `now` from the server's TIME.
-- KEYS[1]: the key. ARGV: T (emission interval, µs), B (burst), n (cost).
-- Reply: { allowed (0/1), remaining, retryAfter (µs) }.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local tau = T * tonumber(ARGV[2])
local n = tonumber(ARGV[3])

local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end

local new = tat + n * T
local allowAt = new - tau
if now < allowAt then
  return { 0, 0, allowAt - now }
end

redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.max(1, math.ceil((new - now) / 1000)))
return { 1, math.floor((now - allowAt) / T), 0 }
