-- Flow control (storage.FlowControl), part of the job library after
-- lib.lua. Keys (see limits.go):
--
--   lim            hash: "scope:name" -> "concurrency rate period(ns) burst interval(µs)"
--   lrun           hash: counter -> Processing jobs it counts (concurrency limits
--                  only); for a partition limit "partition:t", also SEP ..
--                  "partition:t" -> the jobs it counts in all partitions, and
--                  SEP SEP "partition:t" -> 1 while its partitions' counters
--                  are kept (see kept)
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

-- The state of a call: the limits (nil: none stored), the counts and
-- times read and changed, the limits that apply by queue and task
-- (scopeOf), whether each limit can bind in this fetch (by key; see
-- free), the call's time as a number, and the most jobs the call may lease
-- (fetch sets it: flowFetch), each reset when a new call (ARGV) starts.
local callFor, lims, runs, runDirty, tats, tatDirty, pqs, scopes, binds, now, fetchMax

-- flowCall starts the state of a new call.
local function flowCall()
  if callFor == ARGV then return end
  callFor, lims, runs, runDirty, tats, tatDirty, pqs, scopes, binds = ARGV, false, {}, {}, {}, {}, {}, {}, {}
  now, fetchMax = tonumber(NOW), nil
end

-- flowFetch tells that this call leases at most n jobs.
local function flowFetch(n)
  flowCall()
  fetchMax = n
end

-- limits returns the stored limits by key, or nil for none.
local function limits()
  if callFor ~= ARGV then flowCall() end
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

-- scopeOf returns the limits that apply to the jobs of queue q and task t,
-- or nil when none does, made once per call: a list, queue first, then
-- task, then partition, of {l = limit, k = its key, why = what heldBy
-- returns for it, and for a partition limit sum and on, its fields of the
-- total and of the mark of kept counters}, with field conc true when one
-- of them limits concurrency, rate when one limits the rate, and free set
-- by heldBy. The counter of a limit is its key, and for a partition limit
-- its key, SEP and the job's partition key.
local function scopeOf(q, t)
  local byTask = callFor == ARGV and scopes[q] or nil
  local s = byTask and byTask[t]
  if s ~= nil then return s end -- the common case, kept cheap
  local ls = limits()
  if not ls then return nil end
  byTask = scopes[q]
  if not byTask then
    byTask = {}
    scopes[q] = byTask
  end
  s = {conc = false, rate = false}
  for _, k in ipairs({'queue:' .. q, 'task:' .. t, 'partition:' .. t}) do
    local l, scope = ls[k], string.sub(k, 1, 1)
    if l then
      local e = {l = l, k = k, why = scope == 'q' and 'queue' or 'other'}
      if scope == 'p' then e.sum, e.on = SEP .. k, SEP .. SEP .. k end
      s[#s + 1] = e
      s.conc, s.rate = s.conc or l.c > 0, s.rate or l.t > 0
    end
  end
  if #s == 0 then s = false end
  byTask[t] = s
  return s
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

-- A partition limit counts its jobs in all partitions (its total), always,
-- and in each partition while its counters are kept. They are not kept
-- while no fetch could find one full: they start to be kept when a fetch
-- cannot rule that out (see free), counted from the leased jobs, and stop
-- when the total is back to 0 (see flowFlush). So a fetch with room for
-- all its jobs under the total (a limit that never binds) counts one
-- number per limit, as for a queue or task limit.
local function kept(e)
  return running(e.on) > 0
end

-- count adds d to the counts of the concurrency limits of scope s, for a
-- job of partition key pk.
local function count(s, pk, d)
  for i = 1, #s do
    local e = s[i]
    if e.l.c > 0 then
      local c = e.k
      if e.sum then
        runDirty[e.sum] = (runDirty[e.sum] or 0) + d
        c = kept(e) and c .. SEP .. pk
      end
      if c then runDirty[c] = (runDirty[c] or 0) + d end
    end
  end
end

-- keep starts to keep the counters of partition limit e, counted from the
-- leased jobs. A fetch calls it before it leases a job under e: the jobs
-- it leased before are not in the lease set yet, and none is e's.
local function keep(e)
  if kept(e) then return end
  if running(e.sum) > 0 then
    for _, id in ipairs(redis.call('ZRANGE', P .. 'lease', 0, -1)) do
      local v = redis.call('HMGET', jk(id), 's', 't', 'pk')
      if v[1] == 'processing' and 'partition:' .. (v[2] or '') == e.k then
        local c = e.k .. SEP .. (v[3] or '')
        runDirty[c] = (runDirty[c] or 0) + 1
      end
    end
  end
  runDirty[e.on] = 1 - runs[e.on]
end

local function tatOf(c)
  local v = tats[c]
  if v == nil then
    v = tonumber(redis.call('HGET', P .. 'ltat', c) or '0')
    tats[c] = v
  end
  return v
end

-- free tells whether no limit of scope s can hold back a job of this
-- fetch: none has a rate, and each concurrency limit has room for every
-- job the fetch may lease, and one more (for a partition limit, counting
-- every partition's jobs: so no partition is full after the fetch either).
-- Each limit is decided once per fetch, when first asked, before any job
-- under it is leased; its counts only grow during a fetch, by the fetch's
-- own leases, so the decision holds for the rest of the call. A partition
-- limit that may bind has its counters kept from then on.
local function free(s)
  if not fetchMax then return false end
  local all = true
  for i = 1, #s do
    local e = s[i]
    local b = binds[e.k]
    if b == nil then
      b = e.l.t > 0 or (e.l.c > 0 and running(e.sum or e.k) + fetchMax >= e.l.c)
      if b and e.sum and e.l.c > 0 then keep(e) end
      binds[e.k] = b
    end
    all = all and not b
  end
  return all
end

-- heldBy returns the scope of the first limit that holds back a job of q,
-- t and pk now ('queue', or 'other'), or nil when none does.
local function heldBy(q, t, pk)
  local s = scopeOf(q, t)
  if not s then return nil end -- the common case, kept cheap
  if s.free == nil then s.free = free(s) end
  if s.free then return nil end -- no limit of s can bind in this call: nothing to read
  for i = 1, #s do
    local e = s[i]
    local l, c = e.l, e.sum and e.k .. SEP .. pk or e.k
    if (l.c > 0 and running(c) >= l.c) or (l.t > 0 and math.max(tatOf(c), now) - now > l.b * l.t) then
      return e.why
    end
  end
  return nil
end

-- take counts the start of a job of q, t and pk: a slot of each
-- concurrency limit, a GCRA step of each rate limit.
local function take(q, t, pk)
  local s = scopeOf(q, t)
  if not s then return end
  if s.conc then count(s, pk, 1) end
  if not s.rate then return end
  for i = 1, #s do
    local e = s[i]
    if e.l.t > 0 then
      local c = e.sum and e.k .. SEP .. pk or e.k
      tats[c] = math.max(tatOf(c), now) + e.l.t
      tatDirty[c] = true
    end
  end
end

flowLeave = function(j)
  local s = scopeOf(j.q, j.t or '')
  if s and s.conc then count(s, j.pk or '', -1) end
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
      if n <= 0 and string.byte(c, 1) == 31 and string.byte(c, 2) ~= 31 then
        del[#del + 1] = SEP .. c -- a partition limit's total back to 0: its counters are no longer kept
      end
      if n > 0 then
        set[#set + 1] = c
        set[#set + 1] = digits(n)
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
