-- promote: Store.PromoteDue. ARGV[8] limit.
-- Returns how many jobs were promoted and the earliest run time left (µs,
-- "" for none).
local n = requeueDue('sched', 'scheduled', 'scheduled time reached', tonumber(ARGV[8]))
done()
local next = redis.call('ZRANGE', P .. 'sched', 0, 0, 'WITHSCORES')
return {n, next[2] or ''}
