-- setlimits: FlowControl.SetLimits. ARGV[8] number of limits, then per
-- limit its key and its value ("" to remove it; see lua/limitlib.lua).
-- The jobs running are counted again under the limits now stored, so that
-- the counts always match what the limits count.
local set, del = {}, {}
local i = 9
for _ = 1, tonumber(ARGV[8]) do
  if ARGV[i + 1] == '' then
    del[#del + 1] = ARGV[i]
  else
    set[#set + 1] = ARGV[i]
    set[#set + 1] = ARGV[i + 1]
  end
  i = i + 2
end
call('HDEL', P .. 'lim', del)
call('HSET', P .. 'lim', set)
redis.call('DEL', P .. 'lrun')
callFor = nil
flowCall()
-- Every partition limit's counters are counted, and kept while its total
-- is over 0.
local parts = {}
for k, l in pairs(limits() or {}) do
  if string.sub(k, 1, 10) == 'partition:' and l.c > 0 then
    parts[#parts + 1] = k
    runs[SEP .. SEP .. k], runDirty[SEP .. SEP .. k] = 0, 1
  end
end
for _, id in ipairs(redis.call('ZRANGE', P .. 'lease', 0, -1)) do
  local v = redis.call('HMGET', jk(id), 's', 'q', 't', 'pk')
  if v[1] == 'processing' then
    local s = scopeOf(v[2] or '', v[3] or '')
    if s and s.conc then count(s, v[4] or '', 1) end
  end
end
for _, k in ipairs(parts) do
  if (runDirty[SEP .. k] or 0) == 0 then runDirty[SEP .. SEP .. k] = 0 end
end
wake = bit.bor(wake, TOPIC_ENQUEUED) -- a raised limit may let jobs start
done()
return 1
