-- held: HeldCounter.CountHeld. Returns queue, count pairs: per queue, its
-- Enqueued jobs that a full limit holds back now (see heldBy), each counted
-- once; queues with none are left out. A queue whose own limit is full
-- counts its ready set; a queue served by partition, the sets of its
-- partitions held back; another queue, when a task or partition limit is
-- stored, reads the task and key of each of its Enqueued jobs.
local out = {}
local lims = limits()
if not lims then return out end
local others = false
for k in pairs(lims) do
  if string.sub(k, 1, 6) ~= 'queue:' then others = true end
end
for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  local n = 0
  if heldBy(q, '', '') == 'queue' then
    n = redis.call('ZCARD', readyKey(q))
  elseif partitioned(q) then
    local gm = redis.call('HGETALL', P .. 'gm:' .. q)
    for x = 1, #gm, 2 do
      if gm[x] ~= '#' then
        local t, pk = string.match(gm[x], '^(.-)\31(.*)$')
        if heldBy(q, t, pk) then n = n + redis.call('ZCARD', groupKey(q, gm[x])) end
      end
    end
  elseif others then
    local held = {}
    for _, m in ipairs(redis.call('ZRANGE', readyKey(q), 0, -1)) do
      local v = redis.call('HMGET', jk(string.sub(m, -36)), 't', 'pk')
      if v[1] then
        local g = v[1] .. SEP .. (v[2] or '')
        if held[g] == nil then held[g] = heldBy(q, v[1], v[2] or '') ~= nil end
        if held[g] then n = n + 1 end
      end
    end
  end
  if n > 0 then
    out[#out + 1] = q
    out[#out + 1] = n
  end
end
return out
