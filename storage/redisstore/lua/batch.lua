-- batch: Batches.BatchProgress. KEYS[1] the batch's member set. ARGV[1] key
-- prefix. Returns state, count pairs; none for an unknown batch.
local P = ARGV[1]
local counts = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local s = redis.call('HGET', P .. 'j:' .. id, 's')
  if s then counts[s] = (counts[s] or 0) + 1 end
end
local out = {}
for s, n in pairs(counts) do out[#out + 1] = s; out[#out + 1] = n end
return out
