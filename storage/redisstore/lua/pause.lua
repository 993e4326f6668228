-- pause: Recurring.SetRecurringPaused. KEYS[1] the definition's hash.
-- ARGV[1] key prefix, ARGV[2] ID, ARGV[3] "1" to pause, "0" to resume,
-- ARGV[4] next run when resuming. Returns 0 when there is no such definition.
local P, id, k = ARGV[1], ARGV[2], KEYS[1]
if redis.call('EXISTS', k) == 0 then return 0 end
if ARGV[3] == '1' then
  redis.call('HSET', k, 'paused', '1')
  redis.call('ZREM', P .. 'rnext', id)
  return 1
end
redis.call('HSET', k, 'paused', '0', 'next', ARGV[4])
if ARGV[4] ~= '' then redis.call('ZADD', P .. 'rnext', ARGV[4], id) end
redis.call('PUBLISH', P .. 'wake', 4)
return 1
