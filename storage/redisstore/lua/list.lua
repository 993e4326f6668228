-- list: Lister.List. KEYS[1] any key of the store. ARGV[1] key prefix,
-- ARGV[2] state, ARGV[3] queue ("" for every queue), ARGV[4] offset,
-- ARGV[5] limit (0 for no limit). Returns each job's fields (HGETALL, then
-- "id" and its ID),
-- newest first.
local P, state, queue, offset, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local queues = {queue}
if queue == '' then queues = redis.call('SMEMBERS', P .. 'queues') end
local ids = {}
if state == 'processing' then
  for _, id in ipairs(redis.call('ZRANGE', P .. 'lease', 0, -1)) do
    if queue == '' or redis.call('HGET', P .. 'j:' .. id, 'q') == queue then ids[#ids + 1] = id end
  end
else
  for _, q in ipairs(queues) do
    local got
    if state == 'enqueued' then
      got = redis.call('ZRANGE', P .. 'q:' .. q, 0, -1)
      for x, m in ipairs(got) do got[x] = string.sub(m, 16) end
    else
      local n = -1
      if limit > 0 then n = offset + limit end
      got = redis.call('ZREVRANGEBYLEX', P .. 's:' .. state .. ':' .. q, '+', '-', 'LIMIT', 0, n)
    end
    for _, id in ipairs(got) do ids[#ids + 1] = id end
  end
end
table.sort(ids, function(a, b) return a > b end)
local out = {}
local last = #ids
if limit > 0 then last = math.min(last, offset + limit) end
for x = offset + 1, last do
  local h = redis.call('HGETALL', P .. 'j:' .. ids[x])
  if #h > 0 then
    h[#h + 1] = 'id'
    h[#h + 1] = ids[x]
    out[#out + 1] = h
  end
end
return out
