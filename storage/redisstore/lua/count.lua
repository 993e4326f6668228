-- count: Lister.Count. KEYS[1] any key of the store. ARGV[1] key prefix,
-- ARGV[2] queue ("" for every queue). Returns state, count pairs.
local P, queue = ARGV[1], ARGV[2]
local queues = {queue}
if queue == '' then queues = redis.call('SMEMBERS', P .. 'queues') end
local counts = {enqueued = 0, scheduled = 0, awaiting = 0, processing = 0, succeeded = 0, failed = 0, deleted = 0}
for _, q in ipairs(queues) do
  counts.enqueued = counts.enqueued + redis.call('ZCARD', P .. 'q:' .. q)
  for _, s in ipairs({'scheduled', 'awaiting', 'succeeded', 'failed', 'deleted'}) do
    counts[s] = counts[s] + redis.call('ZCARD', P .. 's:' .. s .. ':' .. q)
  end
end
if queue == '' then
  counts.processing = redis.call('ZCARD', P .. 'lease')
else
  for _, id in ipairs(redis.call('ZRANGE', P .. 'lease', 0, -1)) do
    if redis.call('HGET', P .. 'j:' .. id, 'q') == queue then counts.processing = counts.processing + 1 end
  end
end
local out = {}
for s, n in pairs(counts) do out[#out + 1] = s; out[#out + 1] = n end
return out
