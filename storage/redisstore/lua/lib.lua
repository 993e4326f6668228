-- Shared by every script that changes jobs. A script is this file followed
-- by its own body (see scripts.go).
--
-- KEYS[1] is the store's sequence key; every key a script touches carries the
-- store's hash tag, so all of them live in KEYS[1]'s slot.
-- ARGV[1] key prefix, "{tag}:"
-- ARGV[2] now, Unix microseconds
-- ARGV[3] retention of continuations deleted on the way, microseconds ("0": none)
-- ARGV[4..6] an Enqueued state's JSON around its queue and its reason
-- ARGV[7] the Deleted state's JSON of a continuation whose condition failed
-- A script's own arguments start at ARGV[8].
local P = ARGV[1]
local NOW = ARGV[2]
local RET = tonumber(ARGV[3])
local SEP = '\31'
local TOPIC_ENQUEUED, TOPIC_SCHEDULED, TOPIC_RECURRING, TOPIC_FINISHED = 1, 2, 4, 8
local FINISHED = {succeeded = true, failed = true, deleted = true}
local FINAL = {succeeded = true, deleted = true}
-- States listed by the per-state, per-queue lexicographic indexes. Enqueued
-- jobs are listed from their ready set, Processing ones from the lease set.
local INDEXED = {scheduled = true, awaiting = true, succeeded = true, failed = true, deleted = true}
local wake = 0

local function jk(id) return P .. 'j:' .. id end

local function enqueuedData(queue, reason)
  return ARGV[4] .. cjson.encode(queue) .. ARGV[5] .. cjson.encode(reason) .. ARGV[6]
end

-- load reads what the scripts need of a job, or nil if it does not exist.
local function load(id)
  local v = redis.call('HMGET', jk(id), 's', 'q', 'd', 'r', 'u', 'hn', 'p', 'lt', 'lo', 'x', 'b', 'pa', 'on', 'ra', 'qs')
  if not v[1] then return nil end
  return {id = id, s = v[1], q = v[2] or '', d = v[3] or '', r = v[4] or '', u = v[5] or '', hn = tonumber(v[6] or '0'),
    p = tonumber(v[7] or '0'), lt = v[8], lo = v[9], x = v[10], b = v[11] or '', pa = v[12] or '', on = v[13] or '', ra = v[14],
    qs = v[15] or ''}
end

-- unplace removes job j from the indexes of its current state.
local function unplace(j)
  if j.s == 'enqueued' then
    redis.call('ZREM', P .. 'q:' .. j.q, j.qs .. j.id)
  elseif INDEXED[j.s] then
    redis.call('ZREM', P .. 's:' .. j.s .. ':' .. j.q, j.id)
  end
  if j.s == 'scheduled' then
    redis.call('ZREM', P .. 'sched', j.id)
  elseif j.s == 'processing' then
    redis.call('ZREM', P .. 'lease', j.id)
    redis.call('HDEL', jk(j.id), 'lo', 'lt', 'lu')
  end
  if j.x then
    redis.call('ZREM', P .. 'exp', j.id)
    redis.call('HDEL', jk(j.id), 'x')
    j.x = nil
  end
end

-- place files job j in the indexes of its current state.
local function place(j)
  if j.s == 'enqueued' then
    -- Scored by priority; within a priority, members (the enqueue sequence,
    -- fixed width, then the ID) sort first-enqueued first.
    j.qs = string.format('%015.0f', redis.call('INCR', KEYS[1]))
    redis.call('ZADD', P .. 'q:' .. j.q, 0 - j.p, j.qs .. j.id)
    redis.call('HSET', jk(j.id), 'qs', j.qs)
    wake = bit.bor(wake, TOPIC_ENQUEUED)
  elseif INDEXED[j.s] then
    redis.call('ZADD', P .. 's:' .. j.s .. ':' .. j.q, 0, j.id)
  end
  if j.s == 'scheduled' then
    redis.call('ZADD', P .. 'sched', j.ra or '0', j.id)
    wake = bit.bor(wake, TOPIC_SCHEDULED)
  end
  if j.x then
    redis.call('ZADD', P .. 'exp', j.x, j.id)
  end
end

-- account keeps the counts of j's batch as it moves from state from to
-- state to (nil for a new or a removed job).
local function account(b, from, to)
  if b == '' then return end
  local df, ds = 0, 0
  if from and FINISHED[from] then df = df - 1 end
  if from == 'succeeded' then ds = ds - 1 end
  if to and FINISHED[to] then df = df + 1 end
  if to == 'succeeded' then ds = ds + 1 end
  local k = P .. 'b:' .. b
  if not from then redis.call('HINCRBY', k, 't', 1) end
  if not to then
    if redis.call('HINCRBY', k, 't', -1) <= 0 then
      redis.call('DEL', k, P .. 'bm:' .. b)
      return
    end
  end
  if df ~= 0 then redis.call('HINCRBY', k, 'f', df) end
  if ds ~= 0 then redis.call('HINCRBY', k, 'ok', ds) end
end

-- move changes j's state: the state left goes to the history, followed by
-- the traversed entries trav (encoded), and j is filed anew. x is the
-- expiry to set, newq the queue to move to, ra the run time to set (each
-- nil to leave alone).
local function move(j, to, data, reason, trav, x, newq, ra)
  unplace(j)
  local n = j.hn + 1
  local a = {'h' .. n, j.s .. SEP .. j.u .. SEP .. j.r .. SEP .. j.d}
  if trav then
    for _, e in ipairs(trav) do
      n = n + 1
      a[#a + 1] = 'h' .. n
      a[#a + 1] = e
    end
  end
  for _, v in ipairs({'hn', n, 's', to, 'd', data, 'r', reason, 'u', NOW}) do a[#a + 1] = v end
  if newq then a[#a + 1] = 'q'; a[#a + 1] = newq end
  if ra then a[#a + 1] = 'ra'; a[#a + 1] = ra end
  if x then a[#a + 1] = 'x'; a[#a + 1] = x end
  redis.call('HSET', jk(j.id), unpack(a))
  account(j.b, j.s, to)
  j.s, j.d, j.r, j.u, j.hn, j.x = to, data, reason, NOW, n, x
  if newq then j.q = newq end
  if ra then j.ra = ra end
  place(j)
end

local function requeue(j, reason)
  move(j, 'enqueued', enqueuedData(j.q, reason), reason)
end

-- Continuations. pending lists parents (jobs and batches) that have
-- finished and whose Awaiting jobs are still to be resolved.
local pending = {}

local function finished(j)
  pending[#pending + 1] = {j.id, j.s == 'succeeded'}
  if j.b ~= '' then
    local b = redis.call('HMGET', P .. 'b:' .. j.b, 't', 'f', 'ok')
    if b[1] and tonumber(b[2] or '0') == tonumber(b[1]) then
      pending[#pending + 1] = {j.b, tonumber(b[3] or '0') == tonumber(b[1])}
    end
  end
end

local function conditionHolds(on, success)
  if on == 'finish' then return true end
  if on == 'failure' then return not success end
  return success
end

-- resolve moves an Awaiting job on once its parent has finished.
local function resolve(c, success)
  if conditionHolds(c.on, success) then
    requeue(c, 'parent finished')
    return
  end
  local x
  if RET > 0 then x = string.format('%.0f', tonumber(NOW) + RET) end
  local reason = 'continuation condition was not met'
  move(c, 'deleted', ARGV[7], reason, nil, x)
  finished(c)
end

-- drain resolves the continuations of every finished parent, and of the
-- continuations deleted on the way.
local function drain()
  while #pending > 0 do
    local e = table.remove(pending)
    local k = P .. 'aw:' .. e[1]
    local kids = redis.call('SMEMBERS', k)
    if #kids > 0 then
      redis.call('DEL', k)
      for _, id in ipairs(kids) do
        local c = load(id)
        if c and c.s == 'awaiting' and c.pa == e[1] then resolve(c, e[2]) end
      end
    end
  end
end

-- outcome reports whether the job or batch id has finished, and whether
-- with success.
local function outcome(id)
  local s = redis.call('HGET', jk(id), 's')
  if s then return FINISHED[s] or false, s == 'succeeded' end
  local b = redis.call('HMGET', P .. 'b:' .. id, 't', 'f', 'ok')
  if b[1] then
    local t = tonumber(b[1])
    return tonumber(b[2] or '0') == t, tonumber(b[3] or '0') == t
  end
  return false, false
end

-- holder returns the job that holds unique key key now, or nil.
local function holder(key)
  local id = redis.call('GET', P .. 'u:' .. key)
  if not id then return nil end
  local v = redis.call('HMGET', jk(id), 's', 'ku')
  if not v[1] then return nil end
  if not FINISHED[v[1]] then return id end
  if v[2] and tonumber(NOW) < tonumber(v[2]) then return id end
  return nil
end

-- create stores the jobs described from ARGV[i] on, all or none (see
-- jobs.go, createArgs, for the layout). It returns {'ok', ids...}, or
-- {'dup', id} or {'nf', id, parent} having stored nothing.
local function create(i)
  local n = tonumber(ARGV[i]); i = i + 1
  local jobs, inCall, seen = {}, {}, {}
  for x = 1, n do
    local j = {id = ARGV[i], s = ARGV[i + 1], q = ARGV[i + 2], p = tonumber(ARGV[i + 3]), ra = ARGV[i + 4], k = ARGV[i + 5],
      pa = ARGV[i + 6], b = ARGV[i + 7], on = ARGV[i + 8], u = ARGV[i + 9], hn = 0}
    if j.ra == '' then j.ra = nil end
    local nf = tonumber(ARGV[i + 10])
    j.f1, j.f2 = i + 11, i + 10 + 2 * nf
    i = j.f2 + 1
    jobs[x] = j
    inCall[j.id] = true
    if j.b ~= '' then inCall[j.b] = true end
  end
  local out, claimed = {'ok'}, {}
  for x, j in ipairs(jobs) do
    out[x + 1] = j.id
    if seen[j.id] or redis.call('EXISTS', jk(j.id)) == 1 then return {'dup', j.id} end
    seen[j.id] = true
    if j.k ~= '' then
      local h = holder(j.k) or claimed[j.k]
      if h then
        out[x + 1], j.skip = h, true
      else
        claimed[j.k] = j.id
      end
    end
  end
  for _, j in ipairs(jobs) do
    if not j.skip and j.s == 'awaiting' and not inCall[j.pa] and redis.call('EXISTS', jk(j.pa)) == 0
      and redis.call('EXISTS', P .. 'b:' .. j.pa) == 0 then
      return {'nf', j.id, j.pa}
    end
  end
  local queues, awaiting = {}, {}
  for _, j in ipairs(jobs) do
    if not j.skip then
      redis.call('HSET', jk(j.id), unpack(ARGV, j.f1, j.f2))
      if j.k ~= '' then redis.call('SET', P .. 'u:' .. j.k, j.id) end
      if j.b ~= '' then
        account(j.b, nil, j.s)
        redis.call('SADD', P .. 'bm:' .. j.b, j.id)
      end
      queues[j.q] = true
      place(j)
      if j.s == 'awaiting' then awaiting[#awaiting + 1] = j end
    end
  end
  for q in pairs(queues) do redis.call('SADD', P .. 'queues', q) end
  for _, j in ipairs(awaiting) do
    local c = load(j.id)
    if c and c.s == 'awaiting' then
      local fin, ok = outcome(c.pa)
      if fin then
        resolve(c, ok)
        drain()
      else
        redis.call('SADD', P .. 'aw:' .. c.pa, c.id)
      end
    end
  end
  return out
end

-- remove deletes job j and everything that points at it.
local function remove(j)
  unplace(j)
  local k = jk(j.id)
  local key = redis.call('HGET', k, 'k')
  if key and redis.call('GET', P .. 'u:' .. key) == j.id then redis.call('DEL', P .. 'u:' .. key) end
  if j.b ~= '' then
    redis.call('SREM', P .. 'bm:' .. j.b, j.id)
    account(j.b, j.s, nil)
  end
  redis.call('DEL', k, P .. 'log:' .. j.id, P .. 'prog:' .. j.id, P .. 'aw:' .. j.id)
end

local function publish()
  if wake ~= 0 then redis.call('PUBLISH', P .. 'wake', wake) end
end

-- requeueDue moves up to limit jobs in state whose score in the sorted set
-- set has come (at most now) back to Enqueued, and returns how many moved.
local function requeueDue(set, state, reason, limit)
  local n = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. set, '-inf', NOW, 'LIMIT', 0, limit)) do
    local j = load(id)
    if j and j.s == state then
      requeue(j, reason)
      n = n + 1
    else
      redis.call('ZREM', P .. set, id)
    end
  end
  return n
end
