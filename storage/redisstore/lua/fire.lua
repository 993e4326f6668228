-- fire: Recurring.FireRecurring. ARGV[8] definition ID, ARGV[9] expected
-- next run, ARGV[10] next run, ARGV[11] last run (µs, "" for zero), ARGV[12]
-- the last job's ID when no job is given ("" for none), then the jobs (see
-- create in lib.lua). Returns {'conflict'} or create's result.
local k = P .. 'r:' .. ARGV[8]
local v = redis.call('HMGET', k, 'next', 'paused')
if redis.call('EXISTS', k) == 0 or v[2] == '1' or (v[1] or '') ~= ARGV[9] then return {'conflict'} end
local out = create(13)
if out[1] ~= 'ok' then return out end
local a = {'next', ARGV[10], 'last', ARGV[11], 'uat', NOW}
if #out > 1 then a[#a + 1] = 'lastjob'; a[#a + 1] = out[#out]
elseif ARGV[12] ~= '' then a[#a + 1] = 'lastjob'; a[#a + 1] = ARGV[12] end
redis.call('HSET', k, unpack(a))
if ARGV[10] ~= '' then
  redis.call('ZADD', P .. 'rnext', ARGV[10], ARGV[8])
else
  redis.call('ZREM', P .. 'rnext', ARGV[8])
end
done()
return out
