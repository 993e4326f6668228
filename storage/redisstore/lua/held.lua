-- held: HeldCounter.CountHeld. Returns queue, count pairs: per queue, its
-- Enqueued jobs that a full limit holds back now (as heldBy decides), each
-- counted once; queues with none are left out. The full counters are found
-- from the two hashes of counts and rate times (a counter in neither is not
-- full), so that nothing more is read when none is. Then a queue whose own
-- limit is full counts its ready set; a queue served by partition, the sets
-- of its partitions held back; another queue (its jobs have no partition
-- key) only when a task limit, or a partition limit for the key "", is
-- full: it reads the task of each of its Enqueued jobs.
local lims = limits()
if not lims then return {} end
local now = tonumber(NOW)
local full, plain, any = {}, false, false
for _, h in ipairs({'lrun', 'ltat'}) do
  local kv = redis.call('HGETALL', P .. h)
  for i = 1, #kv, 2 do
    local c, v = kv[i], tonumber(kv[i + 1])
    local l = lims[string.match(c, '^[^\31]*')]
    if l and not full[c] and ((h == 'lrun' and l.c > 0 and v >= l.c) or (h == 'ltat' and l.t > 0 and math.max(v, now) - now > l.b * l.t)) then
      full[c], any = true, true
      if string.sub(c, 1, 5) == 'task:' or string.sub(c, -1) == SEP then plain = true end
    end
  end
end
if not any then return {} end
local function held(t, pk)
  return full['task:' .. t] or full['partition:' .. t .. SEP .. pk]
end
local out = {}
for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  local n = 0
  if full['queue:' .. q] then
    n = redis.call('ZCARD', readyKey(q))
  elseif partitioned(q) then
    local gm = redis.call('HGETALL', P .. 'gm:' .. q)
    for x = 1, #gm, 2 do
      if gm[x] ~= '#' then
        local t, pk = string.match(gm[x], '^(.-)\31(.*)$')
        if held(t, pk) then n = n + redis.call('ZCARD', groupKey(q, gm[x])) end
      end
    end
  elseif plain then
    for _, m in ipairs(redis.call('ZRANGE', readyKey(q), 0, -1)) do
      local v = redis.call('HMGET', jk(string.sub(m, -36)), 't', 'pk')
      if v[1] and held(v[1], v[2] or '') then n = n + 1 end
    end
  end
  if n > 0 then
    out[#out + 1] = q
    out[#out + 1] = n
  end
end
return out
