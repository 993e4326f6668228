-- Flow control (storage.FlowControl), part of the job library after
-- lib.lua. Keys (see limits.go):
--
--   lim            hash: "scope:name" -> "concurrency rate period(ns) burst interval(µs)"
--   lrun           hash: counter -> Processing jobs it counts (concurrency limits only)
--   ltat           hash: counter -> GCRA theoretical arrival time, µs (rate limits only)
--   pq             set: the queues served by partition
--   g:<q>SEP<t>SEP<pk>  sorted set: the Enqueued jobs of one partition (task t,
--                  key pk; "" for jobs without a key) of queue q, as in q:<q>
--   gr:<q>         sorted set, the ring of q's partitions: scored by the
--                  score of the partition's first job, member its turn (16
--                  digits) then the partition ("t SEP pk"), served first turn first
--   gm:<q>         hash: partition -> its member in gr:<q>; field '#' the last turn
--
-- A counter is a limit's key, and for a partition limit its key, SEP and the
-- partition key. Every Enqueued job stays in its queue's ready set q:<q>
-- (listings, counts and the plain fetch read it); a queue is served by
-- partition (pq) from the first time a job with a partition key is filed
-- in it, or a limit holds back one of its jobs: then each of its Enqueued
-- jobs is also in its partition's set, and fetch serves the ring.

-- The state of a call: the limits (nil: none stored), and the counts and
-- times read and changed, each reset when a new call (ARGV) starts.
local callFor, lims, runs, runDirty, tats, tatDirty, pqs

-- flowCall starts the state of a new call.
local function flowCall()
  if callFor == ARGV then return end
  callFor, lims, runs, runDirty, tats, tatDirty, pqs = ARGV, false, {}, {}, {}, {}, {}
end

-- limits returns the stored limits by key, or nil for none.
local function limits()
  flowCall()
  if lims ~= false then return lims end
  lims = nil
  local raw = redis.call('HGETALL', P .. 'lim')
  if #raw == 0 then return nil end
  lims = {}
  for i = 1, #raw, 2 do
    local c, r, _, b, t = string.match(raw[i + 1], '^(%d+) (%d+) (%d+) (%d+) ([%d.]+)$')
    lims[raw[i]] = {c = tonumber(c), r = tonumber(r), b = tonumber(b), t = tonumber(t)}
  end
  return lims
end

-- applying calls fn(limit, counter) for each limit that applies to a job
-- of queue q, task t and partition key pk, until fn returns false; it
-- returns false then, else true.
local function applying(q, t, pk, fn)
  local lims = limits()
  if not lims then return true end
  local l = lims['queue:' .. q]
  if l and not fn(l, 'queue:' .. q) then return false end
  l = lims['task:' .. t]
  if l and not fn(l, 'task:' .. t) then return false end
  l = lims['partition:' .. t]
  if l and not fn(l, 'partition:' .. t .. SEP .. pk) then return false end
  return true
end

-- runs holds the counts read, runDirty the call's changes to counts, read
-- or not: a job leaving Processing changes a count without reading it.
local function running(c)
  local v = runs[c]
  if v == nil then
    v = tonumber(redis.call('HGET', P .. 'lrun', c) or '0')
    runs[c] = v
  end
  return v + (runDirty[c] or 0)
end

local function tatOf(c)
  local v = tats[c]
  if v == nil then
    v = tonumber(redis.call('HGET', P .. 'ltat', c) or '0')
    tats[c] = v
  end
  return v
end

-- heldBy returns the scope of the first limit that holds back a job of q,
-- t and pk now ('queue', or 'other'), or nil when none does.
local function heldBy(q, t, pk)
  if not limits() then return nil end -- the common case, kept cheap
  local now, why = tonumber(NOW), nil
  applying(q, t, pk, function(l, c)
    if (l.c > 0 and running(c) >= l.c) or (l.t > 0 and math.max(tatOf(c), now) - now > l.b * l.t) then
      why = string.sub(c, 1, 6) == 'queue:' and 'queue' or 'other'
      return false
    end
    return true
  end)
  return why
end

-- take counts the start of a job of q, t and pk: a slot of each
-- concurrency limit, a GCRA step of each rate limit.
local function take(q, t, pk)
  if not limits() then return end
  local now = tonumber(NOW)
  applying(q, t, pk, function(l, c)
    if l.c > 0 then
      runDirty[c] = (runDirty[c] or 0) + 1
    end
    if l.t > 0 then
      tats[c] = math.max(tatOf(c), now) + l.t
      tatDirty[c] = true
    end
    return true
  end)
end

flowLeave = function(j)
  applying(j.q, j.t or '', j.pk or '', function(l, c)
    if l.c > 0 then
      runDirty[c] = (runDirty[c] or 0) - 1
    end
    return true
  end)
end

flowFlush = function()
  if callFor ~= ARGV then return end
  callFor = nil
  local set, del, unread = {}, {}, {}
  for c, d in pairs(runDirty) do
    if d ~= 0 and runs[c] == nil then unread[#unread + 1] = c end
  end
  for i = 1, #unread, 4000 do
    local v = redis.call('HMGET', P .. 'lrun', unpack(unread, i, math.min(i + 3999, #unread)))
    for k = 1, #v do runs[unread[i + k - 1]] = tonumber(v[k] or '0') end
  end
  for c, d in pairs(runDirty) do
    if d ~= 0 then
      local n = runs[c] + d
      if n > 0 then
        set[#set + 1] = c
        set[#set + 1] = n
      else
        del[#del + 1] = c
      end
    end
  end
  call('HSET', P .. 'lrun', set)
  call('HDEL', P .. 'lrun', del)
  set = {}
  for c in pairs(tatDirty) do
    set[#set + 1] = c
    set[#set + 1] = string.format('%.3f', tats[c])
  end
  call('HSET', P .. 'ltat', set)
end

local function partitioned(q)
  flowCall()
  local v = pqs[q]
  if v == nil then
    v = redis.call('SISMEMBER', P .. 'pq', q) == 1
    pqs[q] = v
  end
  return v
end

local function groupKey(q, g) return P .. 'g:' .. q .. SEP .. g end

-- ringPut files partition g of queue q in the ring, with a job of score
-- sc: a partition new to the ring takes the last turn; one in it keeps its
-- turn, scored by its first job.
local function ringPut(q, g, sc)
  local gm = P .. 'gm:' .. q
  local m = redis.call('HGET', gm, g)
  if m then
    redis.call('ZADD', P .. 'gr:' .. q, 'LT', sc, m)
    return
  end
  m = string.format('%016.0f', redis.call('HINCRBY', gm, '#', 1)) .. g
  redis.call('HSET', gm, g, m)
  redis.call('ZADD', P .. 'gr:' .. q, sc, m)
end

-- partitionOn makes queue q served by partition: every job of its ready
-- set is filed in its partition's set too (after the call's ready-set
-- writes so far are applied). A job whose hash is not written yet is the
-- one being filed: flowFile files it.
local function partitionOn(q)
  pqs[q] = true
  if redis.call('SADD', P .. 'pq', q) == 0 then return end
  zflush()
  local all = redis.call('ZRANGE', readyKey(q), 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    local m = all[i]
    local v = redis.call('HMGET', jk(string.sub(m, -36)), 't', 'pk')
    if v[1] then
      local g = v[1] .. SEP .. (v[2] or '')
      zput(groupKey(q, g), m, all[i + 1])
      ringPut(q, g, all[i + 1])
    end
  end
end

flowUnfile = function(j)
  flowCall()
  if partitioned(j.q) then zput(groupKey(j.q, (j.t or '') .. SEP .. (j.pk or '')), j.qs .. j.id, false) end
end

flowFile = function(q, t, pk, m, sc)
  flowCall()
  if pk == '' and not partitioned(q) then return end
  if not pqs[q] then partitionOn(q) end
  local g = t .. SEP .. pk
  zput(groupKey(q, g), m, sc)
  ringPut(q, g, sc)
end
