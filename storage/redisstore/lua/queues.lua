-- queues: Queues.ListQueues, for some of the queues. KEYS[1] any key of
-- the store. ARGV[1] key prefix, then queue names. Returns per queue named
-- that has Enqueued jobs or is paused: name, paused ("1"/"0"), Enqueued
-- count, and when the next job to run became Enqueued (as a history entry
-- holds it, see entryTime in codec.go; "" for none; a history entry's
-- first piece holds it).
-- A queue named that no index holds a job of any more is dropped from the
-- set of queues (see emptyQueue in lib.lua), as the scripts that change
-- jobs do when jobs leave a queue.
local P = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local q = ARGV[i]
  local n = redis.call('ZCARD', P .. 'q:' .. q)
  local paused = redis.call('SISMEMBER', P .. 'paused', q)
  if n > 0 or paused == 1 then
    local at = ''
    local first = redis.call('ZRANGE', P .. 'q:' .. q, 0, 0)
    if first[1] then
      -- when the job entered its current state: the time of its last history entry
      local k = P .. 'j:' .. string.sub(first[1], -36)
      local e = redis.call('HGET', k, 'h' .. (redis.call('HGET', k, 'hn') or '1')) or ''
      at = string.match(e, '^[^\31]*\31([^\31]*)') or ''
    end
    out[#out + 1] = {q, tostring(paused), n, at}
  else
    local s = P .. 's:'
    if redis.call('EXISTS', s .. 'scheduled:' .. q, s .. 'awaiting:' .. q, s .. 'succeeded:' .. q, s .. 'failed:' .. q,
        s .. 'deleted:' .. q) == 0 then
      redis.call('SREM', P .. 'queues', q)
    end
  end
end
return out
