-- prune: Pruner.DeleteExpired. ARGV[8] limit, ARGV[9] the oldest minute of
-- statistics to keep (µs), ARGV[10] the time up to which GCRA times are
-- dropped (µs: storage.RateTimeKept before now). Returns how many jobs
-- were removed. Reads the expiry buckets (see expflush in lib.lua) whose
-- earliest entry is due, after the single sorted set exp of stores written
-- before the buckets; and drops GCRA times long past.
local limit, n = tonumber(ARGV[8]), 0

-- drop removes the due jobs among the entries of sorted set k read with
-- their scores, and the entries.
local function drop(k, due)
  local gone = {}
  for i = 1, #due, 2 do
    local j = load(due[i])
    -- An entry whose job has moved on since, or is gone, is only dropped.
    if j and j.x and tonumber(j.x) == tonumber(due[i + 1]) then
      remove(j)
      n = n + 1
    end
    gone[#gone + 1] = due[i]
  end
  call('ZREM', k, gone)
end

drop(P .. 'exp', redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, limit))
while n < limit do
  local b = redis.call('ZRANGEBYSCORE', P .. 'xb', '-inf', NOW, 'LIMIT', 0, 1)[1]
  if not b then break end
  local k = P .. 'x:' .. b
  drop(k, redis.call('ZRANGEBYSCORE', k, '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, limit - n))
  local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
  if first[1] then
    redis.call('ZADD', P .. 'xb', first[2], b)
  else
    redis.call('ZREM', P .. 'xb', b)
  end
end
done()
-- The GCRA times that are past count as none (see tatOf in limitlib.lua):
-- each call reads a page of hash ltat from the cursor kept in ltatc and
-- drops those past by storage.RateTimeKept or more, so that one time per
-- partition does not stay for ever.
local page = redis.call('HSCAN', P .. 'ltat', redis.call('GET', P .. 'ltatc') or '0', 'COUNT', limit)
local past, now = {}, tonumber(ARGV[10])
for i = 1, #page[2], 2 do
  if tonumber(page[2][i + 1]) <= now then past[#past + 1] = page[2][i] end
end
if #past > 0 then call('HDEL', P .. 'ltat', past) end
if page[1] == '0' then
  redis.call('DEL', P .. 'ltatc')
else
  redis.call('SET', P .. 'ltatc', page[1])
end
local old = redis.call('ZRANGEBYSCORE', P .. 'statsidx', '-inf', '(' .. ARGV[9])
for _, m in ipairs(old) do
  redis.call('HDEL', P .. 'stats', m .. ':s', m .. ':f', m .. ':d')
  redis.call('ZREM', P .. 'statsidx', m)
end
return n
