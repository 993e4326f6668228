-- reclaim: Store.ReclaimExpired. ARGV[8] limit. Returns how many moved.
local n = requeueDue('lease', 'processing', 'lease expired', tonumber(ARGV[8]))
done()
return n
