-- list: Lister.List. KEYS[1] any key of the store. ARGV[1] key prefix,
-- ARGV[2] state, ARGV[3] queue, ARGV[4] task, ARGV[5] batch ID, ARGV[6]
-- parent ID ("" for any of them), ARGV[7] offset, ARGV[8] limit (0 for no
-- limit), ARGV[9] cursor ("" for none), ARGV[10] "1" to walk backwards.
-- Returns the rows (each job's fields: HGETALL, then "id" and its ID) and
-- their cursors, in the order walked.
--
-- A job's place is a score and a member: Enqueued jobs are ordered as
-- their ready set orders them (minus the priority, then the member: the
-- enqueue sequence and the ID), Scheduled ones as the sched set does (run
-- time, ID), the others by ID, newest first. Its cursor is "score member".
-- Without filters (a queue aside), a page reads from the cursor's rank in
-- the sets (a binary search within its score) or, for the per-state sets
-- by ID, from its lexical place: the same work at any depth. A batch is
-- read from its member set; with a task or parent, every job of the state
-- (every state, when none is given) is read and filtered first.
local P, state, queue, task, batch, parent = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local offset, limit, cursor, fwd = tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9], ARGV[10] ~= '1'
local want = 0
if limit > 0 then want = offset + limit end
local curS, curM
if cursor ~= '' then
  local sp = string.find(cursor, ' ', 1, true)
  curS, curM = string.sub(cursor, 1, sp - 1), string.sub(cursor, sp + 1)
end
local byScore = state == 'enqueued' or state == 'scheduled'
local queues = {queue}
if queue == '' then queues = redis.call('SMEMBERS', P .. 'queues') end

-- before reports whether entry a comes before entry b in the walk.
local function before(a, b)
  if a.m == b.m then return false end
  if byScore then
    local x, y = tonumber(a.s), tonumber(b.s)
    if x ~= y then return (x < y) == fwd end
    return (a.m < b.m) == fwd
  end
  return (a.m > b.m) == fwd
end
local cur
if curS then cur = {s = curS, m = curM} end

local entries = {}
local function add(e) entries[#entries + 1] = e end

-- ranked adds up to want entries (every one for 0) of sorted set key after
-- the cursor, found by rank; idOf turns a member into its job ID.
local function ranked(key, idOf)
  local r
  if not cur then
    r = 0
    if not fwd then r = redis.call('ZCARD', key) end
  else
    local lo = redis.call('ZCOUNT', key, '-inf', '(' .. curS)
    local hi = lo + redis.call('ZCOUNT', key, curS, curS)
    while lo < hi do -- the first rank whose member is after the cursor's (forwards) or not before it
      local mid = math.floor((lo + hi) / 2)
      local m = redis.call('ZRANGE', key, mid, mid)[1]
      if m < curM or (fwd and m == curM) then lo = mid + 1 else hi = mid end
    end
    r = lo
  end
  local got
  if fwd then
    local last = -1
    if want > 0 then last = r + want - 1 end
    got = redis.call('ZRANGE', key, r, last, 'WITHSCORES')
  else
    if r == 0 then return end
    local first = 0
    if want > 0 then first = math.max(0, r - want) end
    got = redis.call('ZRANGE', key, first, r - 1, 'WITHSCORES')
  end
  local n = #got / 2
  for x = 1, n do
    local i = x
    if not fwd then i = n + 1 - x end
    local m = got[2 * i - 1]
    add({s = got[2 * i], m = m, id = idOf(m)})
  end
end

local function plainID(m) return m end
local function readyID(m) return string.sub(m, -36) end

-- byID adds up to want entries of a set of IDs (all scored 0) after the
-- cursor, newest first (forwards).
local function byID(key)
  local n = -1
  if want > 0 then n = want end
  local got
  if fwd then
    local hi = '+'
    if cur then hi = '(' .. curM end
    got = redis.call('ZREVRANGEBYLEX', key, hi, '-', 'LIMIT', 0, n)
  else
    local lo = '-'
    if cur then lo = '(' .. curM end
    got = redis.call('ZRANGEBYLEX', key, lo, '+', 'LIMIT', 0, n)
  end
  for _, id in ipairs(got) do add({s = '0', m = id, id = id}) end
end

local filtered = task ~= '' or parent ~= '' or batch ~= ''

-- every adds all the jobs of state st (of the queue, if one is given),
-- keyed for the list's order.
local function every(st)
  if st == 'processing' then
    for _, id in ipairs(redis.call('ZRANGE', P .. 'lease', 0, -1)) do
      if queue == '' or redis.call('HGET', P .. 'j:' .. id, 'q') == queue then add({s = '0', m = id, id = id}) end
    end
    return
  end
  for _, q in ipairs(queues) do
    if st == 'enqueued' then
      local got = redis.call('ZRANGE', P .. 'q:' .. q, 0, -1, 'WITHSCORES')
      for i = 1, #got, 2 do
        local e = {s = got[i + 1], m = got[i], id = readyID(got[i])}
        if not byScore then e.s, e.m = '0', e.id end
        add(e)
      end
    else
      for _, id in ipairs(redis.call('ZRANGE', P .. 's:' .. st .. ':' .. q, 0, -1)) do
        local e = {s = '0', m = id, id = id}
        if st == 'scheduled' and byScore then e.s = redis.call('ZSCORE', P .. 'sched', id) or '0' end
        add(e)
      end
    end
  end
end

if batch ~= '' then
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'bm:' .. batch)) do
    local e = {s = '0', m = id, id = id}
    if state == 'scheduled' then e.s = redis.call('ZSCORE', P .. 'sched', id) or '0' end
    if state == 'enqueued' then
      local f = redis.call('HMGET', P .. 'j:' .. id, 'p', 'qs')
      if f[2] then e.s, e.m = tostring(0 - (tonumber(f[1]) or 0)), f[2] .. id end
    end
    add(e)
  end
elseif filtered then
  if state ~= '' then every(state) else
    for _, st in ipairs({'enqueued', 'scheduled', 'awaiting', 'processing', 'succeeded', 'failed', 'deleted'}) do every(st) end
  end
elseif state == 'enqueued' then
  for _, q in ipairs(queues) do ranked(P .. 'q:' .. q, readyID) end
elseif state == 'scheduled' and queue == '' then
  ranked(P .. 'sched', plainID)
elseif state == 'processing' or state == 'scheduled' then
  every(state)
elseif state ~= '' then
  for _, q in ipairs(queues) do byID(P .. 's:' .. state .. ':' .. q) end
else
  for _, st in ipairs({'enqueued', 'scheduled', 'awaiting', 'processing', 'succeeded', 'failed', 'deleted'}) do every(st) end
end

if filtered or batch ~= '' then
  local kept = {}
  for _, e in ipairs(entries) do
    local f = redis.call('HMGET', P .. 'j:' .. e.id, 's', 'q', 't', 'b', 'pa')
    if f[1] and (state == '' or f[1] == state) and (queue == '' or f[2] == queue) and (task == '' or f[3] == task)
        and (batch == '' or f[4] == batch) and (parent == '' or f[5] == parent) then
      kept[#kept + 1] = e
    end
  end
  entries = kept
end
if cur then -- the ranked and lexical reads start after it already; the others not
  local kept = {}
  for _, e in ipairs(entries) do
    if before(cur, e) then kept[#kept + 1] = e end
  end
  entries = kept
end

table.sort(entries, before)
local rows, cursors = {}, {}
local last = #entries
if limit > 0 then last = math.min(last, offset + limit) end
for x = offset + 1, last do
  local e = entries[x]
  local h = redis.call('HGETALL', P .. 'j:' .. e.id)
  if #h > 0 then
    h[#h + 1] = 'id'
    h[#h + 1] = e.id
    rows[#rows + 1] = h
    cursors[#cursors + 1] = e.s .. ' ' .. e.m
  end
end
return {rows, cursors}
