-- list: Lister.List. KEYS[1] any key of the store. ARGV[1] key prefix,
-- ARGV[2] state, ARGV[3] queue, ARGV[4] task, ARGV[5] batch ID, ARGV[6]
-- parent ID ("" for any of them), ARGV[7] offset, ARGV[8] limit (0 for no
-- limit). Returns each job's fields (HGETALL, then "id" and its ID), newest
-- first. A batch is read from its member set; otherwise the jobs of the
-- state (every state when none is given) in the queue (every queue) are
-- read, then filtered by task and parent.
local P, state, queue, task, batch, parent = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local offset, limit = tonumber(ARGV[7]), tonumber(ARGV[8])
local filtered = task ~= '' or parent ~= '' or batch ~= ''
local queues = {queue}
if queue == '' then queues = redis.call('SMEMBERS', P .. 'queues') end
local ids = {}

local function add(list) for _, id in ipairs(list) do ids[#ids + 1] = id end end

local function ofState(st)
  if st == 'processing' then
    local got = redis.call('ZRANGE', P .. 'lease', 0, -1)
    if queue ~= '' then
      local mine = {}
      for _, id in ipairs(got) do
        if redis.call('HGET', P .. 'j:' .. id, 'q') == queue then mine[#mine + 1] = id end
      end
      got = mine
    end
    add(got)
    return
  end
  for _, q in ipairs(queues) do
    if st == 'enqueued' then
      local got = redis.call('ZRANGE', P .. 'q:' .. q, 0, -1)
      for x, m in ipairs(got) do got[x] = string.sub(m, -36) end
      add(got)
    else
      local n = -1
      if limit > 0 and not filtered and state ~= '' then n = offset + limit end
      add(redis.call('ZREVRANGEBYLEX', P .. 's:' .. st .. ':' .. q, '+', '-', 'LIMIT', 0, n))
    end
  end
end

if batch ~= '' then
  add(redis.call('SMEMBERS', P .. 'bm:' .. batch))
elseif state ~= '' then
  ofState(state)
else
  for _, st in ipairs({'enqueued', 'scheduled', 'awaiting', 'processing', 'succeeded', 'failed', 'deleted'}) do ofState(st) end
end

if filtered or batch ~= '' then
  local kept = {}
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', P .. 'j:' .. id, 's', 'q', 't', 'b', 'pa')
    if f[1] and (state == '' or f[1] == state) and (queue == '' or f[2] == queue) and (task == '' or f[3] == task)
        and (batch == '' or f[4] == batch) and (parent == '' or f[5] == parent) then
      kept[#kept + 1] = id
    end
  end
  ids = kept
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
