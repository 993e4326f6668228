-- lock: Locker.TryLock. KEYS[1] the lock. ARGV[1] owner, ARGV[2] TTL (ms).
-- Returns 1 when owner holds the lock now.
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
