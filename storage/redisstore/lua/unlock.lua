-- unlock: Locker.Unlock. KEYS[1] the lock. ARGV[1] owner.
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
