-- prune: Pruner.DeleteExpired. ARGV[8] limit, ARGV[9] the oldest minute of
-- statistics to keep (µs). Returns how many jobs were removed.
local ids = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', NOW, 'LIMIT', 0, tonumber(ARGV[8]))
for _, id in ipairs(ids) do
  local j = load(id)
  if j then remove(j) else zput(P .. 'exp', id, false) end
end
done()
local old = redis.call('ZRANGEBYSCORE', P .. 'statsidx', '-inf', '(' .. ARGV[9])
for _, m in ipairs(old) do
  redis.call('HDEL', P .. 'stats', m .. ':s', m .. ':f', m .. ':d')
  redis.call('ZREM', P .. 'statsidx', m)
end
return #ids
