-- fields: a field of a page of jobs. KEYS[1] any key of the store. ARGV[1]
-- key prefix, ARGV[2] the field, then job IDs. Returns the field of each
-- job, in the order of the IDs, "" for a job that is gone.
local P, f = ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV do
  out[#out + 1] = redis.call('HGET', P .. 'j:' .. ARGV[i], f) or ''
end
return out
