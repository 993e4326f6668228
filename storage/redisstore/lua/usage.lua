-- usage: FlowControl.LimitUsage. Returns the stored limits and GCRA times
-- (each hash as name/value pairs), then the jobs Processing and Enqueued
-- per queue, task and partition key: q, t, pk, running, waiting, ... It
-- reads every Processing job, and every Enqueued job of a queue not served
-- by partition (a partition's jobs are counted by its set).
local agg, order = {}, {}
local function add(q, t, pk, r, w)
  local k = q .. SEP .. t .. SEP .. pk
  local a = agg[k]
  if not a then
    a = {q, t, pk, 0, 0}
    agg[k] = a
    order[#order + 1] = k
  end
  a[4], a[5] = a[4] + r, a[5] + w
end
for _, id in ipairs(redis.call('ZRANGE', P .. 'lease', 0, -1)) do
  local v = redis.call('HMGET', jk(id), 's', 'q', 't', 'pk')
  if v[1] == 'processing' then add(v[2] or '', v[3] or '', v[4] or '', 1, 0) end
end
for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  if redis.call('SISMEMBER', P .. 'pq', q) == 1 then
    local gm = redis.call('HGETALL', P .. 'gm:' .. q)
    for x = 1, #gm, 2 do
      if gm[x] ~= '#' then
        local t, pk = string.match(gm[x], '^(.-)\31(.*)$')
        add(q, t, pk, 0, redis.call('ZCARD', groupKey(q, gm[x])))
      end
    end
  else
    for _, m in ipairs(redis.call('ZRANGE', readyKey(q), 0, -1)) do
      local v = redis.call('HMGET', jk(string.sub(m, -36)), 't', 'pk')
      if v[1] then add(q, v[1], v[2] or '', 0, 1) end
    end
  end
end
local flat = {}
for _, k in ipairs(order) do
  for _, v in ipairs(agg[k]) do flat[#flat + 1] = v end
end
return {redis.call('HGETALL', P .. 'lim'), redis.call('HGETALL', P .. 'ltat'), flat}
