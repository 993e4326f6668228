-- count: Lister.Count, for some of the queues. KEYS[1] any key of the
-- store. ARGV[1] key prefix, then queue names. Returns the number of jobs
-- of those queues in each state but Processing, as state, count pairs.
local P = ARGV[1]
local counts = {enqueued = 0, scheduled = 0, awaiting = 0, succeeded = 0, failed = 0, deleted = 0}
for i = 2, #ARGV do
  local q = ARGV[i]
  counts.enqueued = counts.enqueued + redis.call('ZCARD', P .. 'q:' .. q)
  for _, s in ipairs({'scheduled', 'awaiting', 'succeeded', 'failed', 'deleted'}) do
    counts[s] = counts[s] + redis.call('ZCARD', P .. 's:' .. s .. ':' .. q)
  end
end
local out = {}
for s, n in pairs(counts) do out[#out + 1] = s; out[#out + 1] = n end
return out
