-- dead: Workers.RemoveDeadWorkers. ARGV[8] timeout (µs).
-- Returns the IDs of the workers removed; their jobs are Enqueued again.
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000000 + tonumber(t[2]) - tonumber(ARGV[8])
local dead = redis.call('ZRANGEBYSCORE', P .. 'hb', '-inf', '(' .. string.format('%.0f', cutoff))
if #dead == 0 then return dead end
local gone = {}
for _, id in ipairs(dead) do
  gone[id] = true
  redis.call('ZREM', P .. 'hb', id)
  redis.call('HDEL', P .. 'workers', id)
end
for _, id in ipairs(redis.call('ZRANGE', P .. 'lease', 0, -1)) do
  local j = load(id)
  local _, _, owner = lease(j and j.l)
  if j and j.s == 'processing' and gone[owner] then
    requeue(j, 'worker ' .. owner .. ' stopped sending heartbeats')
  end
end
done()
return dead
