-- index: files jobs of a store written before the indexes by ID of the
-- Enqueued and Processing jobs of a queue (s:active:<queue>) and of a
-- parent's continuations (c:<parent>) in them (see ACTIVE and continues
-- in lib.lua). KEYS[1] any key of the store. ARGV[1] key prefix, then
-- job IDs; a job that is gone is passed over.
local P = ARGV[1]
local ACTIVE = {enqueued = true, processing = true}
for i = 2, #ARGV do
  local id = ARGV[i]
  local v = redis.call('HMGET', P .. 'j:' .. id, 's', 'q', 'pa')
  if v[1] then
    if ACTIVE[v[1]] then redis.call('ZADD', P .. 's:active:' .. (v[2] or ''), 0, id) end
    if v[3] and v[3] ~= '' then redis.call('ZADD', P .. 'c:' .. v[3], 0, id) end
  end
end
return #ARGV - 1
