-- queues: Queues.ListQueues. KEYS[1] any key of the store. ARGV[1] key
-- prefix. Returns per queue that has Enqueued jobs or is paused: name,
-- paused ("1"/"0"), Enqueued count, and when the next job to run became
-- Enqueued (as a history entry holds it, see entryTime in codec.go; "" for
-- none; a history entry's first piece holds it).
-- A queue that no job is in any more is dropped from the set of queues, so
-- that short-lived queue names do not pile up.
local P = ARGV[1]
local out = {}
local busy -- queues of Processing jobs, read once, when needed
for _, q in ipairs(redis.call('SUNION', P .. 'queues', P .. 'paused')) do
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
    local held = 0
    for _, s in ipairs({'scheduled', 'awaiting', 'succeeded', 'failed', 'deleted'}) do
      held = held + redis.call('ZCARD', P .. 's:' .. s .. ':' .. q)
    end
    if held == 0 then
      if not busy then
        busy = {}
        for _, id in ipairs(redis.call('ZRANGE', P .. 'lease', 0, -1)) do
          busy[redis.call('HGET', P .. 'j:' .. id, 'q') or ''] = true
        end
      end
      if not busy[q] then redis.call('SREM', P .. 'queues', q) end
    end
  end
end
return out
