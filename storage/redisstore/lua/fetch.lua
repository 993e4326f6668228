-- fetch: Store.Fetch.
-- ARGV[8] owner, ARGV[9] lease expiry (µs), ARGV[10] the Processing state's
-- JSON, ARGV[11] limit, ARGV[12] number of queues, then per queue its name
-- and the score range to take (min, max; see fetchRanges in jobs.go).
-- Returns each leased job's fields as name/value pairs, as they were
-- before the lease but for the lease (l) and attempt (n), followed by "id"
-- and its ID, in the order served: the caller knows the rest of what
-- changed (state, state data, time; see Fetch in jobs.go).
--
-- A queue is served from its ready set, first job first, while no job of
-- it has a partition key and no limit has held one back; then by partition
-- (see lua/limitlib.lua), round robin. Limits are checked, and slots and
-- rate steps taken, job by job; a limit with room for the whole call (and
-- no rate) is not checked again after the first job it applies to, and its
-- counts are written once, at the end.
local owner, untilAt, data, limit = ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local leaseEnd, leases = SEP .. untilAt .. SEP .. owner, P .. 'lease'
local out, leased = {}, {}
flowFetch(limit)

-- read returns job id's hash, its task and partition key, its history
-- length and its attempts, if it is Enqueued in queue q; nil otherwise (a
-- member whose job is gone, evicted by a maxmemory policy, or not Enqueued
-- there, a stray entry, is never leased).
local function read(id, q)
  local row = redis.call('HGETALL', jk(id))
  local st, jq, t, pk, hn, att = nil, nil, '', '', 1, 0
  for x = 1, #row, 2 do
    local f = row[x]
    if f == 's' then st = row[x + 1]
    elseif f == 'q' then jq = row[x + 1]
    elseif f == 'hn' then hn = tonumber(row[x + 1])
    elseif f == 'n' then att = tonumber(row[x + 1])
    elseif f == 't' then t = row[x + 1]
    elseif f == 'pk' then pk = row[x + 1]
    end
  end
  if st ~= 'enqueued' or jq ~= q then return nil end
  return row, t, pk, hn, att
end

-- leaseRow leases job id, read as row, with history length hn and
-- attempts att.
local function leaseRow(id, row, hn, att)
  local k = jk(id)
  local tok = token()
  local l, e = tok .. leaseEnd, entry('processing', NOW, '', data)
  local h, n = digits(hn + 1), digits(att + 1)
  if #e <= PIECE then
    redis.call('HSET', k, 'hn', h, 's', 'processing', 'l', l, 'n', n, 'qs', '', 'h' .. h, e)
  else
    local a = {'hn', h, 's', 'processing', 'l', l, 'n', n, 'qs', ''}
    put(a, 'h' .. h, e)
    redis.call('HSET', k, unpack(a))
  end
  local r = #row
  row[r + 1], row[r + 2], row[r + 3], row[r + 4], row[r + 5], row[r + 6] = 'l', l, 'n', att + 1, 'id', id
  leased[#leased + 1] = untilAt
  leased[#leased + 1] = id
  out[#out + 1] = row
end

-- plain serves queue q from its ready set, scores min to max. It returns
-- true when a limit held back a job that other jobs of the queue may pass:
-- the queue is then served by partition.
local function plain(q, min, max)
  local rk = readyKey(q)
  local members = redis.call('ZRANGEBYSCORE', rk, min, max, 'LIMIT', 0, limit - #out)
  local gone, switch = {}, false
  for _, m in ipairs(members) do
    local id = string.sub(m, -36) -- the member is the enqueue sequence, then the ID
    local row, t, pk, hn, att = read(id, q)
    if row then
      local why = heldBy(q, t, pk)
      if why == 'queue' then break end
      if why or pk ~= '' then
        switch = true
        break
      end
      take(q, t, pk)
      leaseRow(id, row, hn, att)
    end
    gone[#gone + 1] = m
  end
  call('ZREM', rk, gone)
  return switch
end

-- byPartition serves queue q's partitions with a first job of score min to
-- max round robin: the first in the ring that no limit holds back gives
-- its first job and takes the last turn. Partitions held back keep their
-- turn and are passed over for the rest of the call.
local function byPartition(q, min, max)
  local rk, ring, gm = readyKey(q), P .. 'gr:' .. q, P .. 'gm:' .. q
  local passed = 0 -- the partitions passed over, first in the ring
  -- The ring's members written back at the end (false: removed), and the
  -- last turn handed out.
  local members, turn = {}, nil
  while #out < limit do
    local e = redis.call('ZRANGEBYSCORE', ring, min, max, 'WITHSCORES', 'LIMIT', passed, 1)
    if #e == 0 then break end
    local rm = e[1]
    local g = string.sub(rm, 17)
    local t, pk = string.match(g, '^(.-)\31(.*)$')
    local why = heldBy(q, t, pk)
    if why == 'queue' then break end
    local gk = groupKey(q, g)
    local heads = not why and redis.call('ZRANGE', gk, 0, 1, 'WITHSCORES')
    if why then
      passed = passed + 1
    elseif heads[1] and tonumber(heads[2]) ~= tonumber(e[2]) then
      -- The partition's first job left Enqueued other than by a fetch:
      -- its place in the ring is scored again, and the ring read again.
      redis.call('ZADD', ring, heads[2], rm)
    else
      redis.call('ZREM', ring, rm)
      if heads[1] then
        redis.call('ZREM', gk, heads[1])
        zput(rk, heads[1], false)
        local id = string.sub(heads[1], -36)
        local row, _, _, hn, att = read(id, q)
        if row then
          take(q, t, pk)
          leaseRow(id, row, hn, att)
        end
      end
      if heads[3] then
        turn = (turn or tonumber(redis.call('HGET', gm, '#') or '0')) + 1
        local nm = string.format('%016.0f', turn) .. g
        redis.call('ZADD', ring, heads[4], nm)
        members[g] = nm
      else
        members[g] = false
      end
    end
  end
  local set, del = {}, {}
  if turn then set[1], set[2] = '#', string.format('%.0f', turn) end
  for g, m in pairs(members) do
    if m then
      set[#set + 1] = g
      set[#set + 1] = m
    else
      del[#del + 1] = g
    end
  end
  call('HDEL', gm, del)
  call('HSET', gm, set)
  if #del > 0 and redis.call('ZCARD', ring) == 0 then redis.call('DEL', gm) end
end

local i = 13
for _ = 1, tonumber(ARGV[12]) do
  local q, min, max = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if #out < limit and redis.call('SISMEMBER', P .. 'paused', q) == 0 then
    if not partitioned(q) and plain(q, min, max) then
      partitionOn(q)
      zflush()
    end
    if partitioned(q) then byPartition(q, min, max) end
  end
end
call('ZADD', leases, leased)
done()
return out
