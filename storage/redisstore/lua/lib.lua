-- Shared by every function that changes jobs: the library that scripts.go
-- loads (FUNCTION LOAD) is this file followed by one function per operation,
-- whose body is that operation's file (see scripts.go). Each call starts with
-- setup, which resets the state of the call below.
--
-- KEYS[1] is the store's sequence key; every key a function touches carries
-- the store's hash tag, so all of them live in KEYS[1]'s slot.
-- ARGV[1] key prefix, "{tag}:"
-- ARGV[2] now, Unix microseconds
-- ARGV[3] retention of continuations deleted on the way, microseconds ("0": none)
-- ARGV[4..6] an Enqueued state's JSON around its queue and its reason
-- ARGV[7] the Deleted state's JSON of a continuation whose condition failed
-- A function's own arguments start at ARGV[8].
--
-- Costs: each redis.call costs about as much as the work it does, so the
-- functions read a job with one call (a dozen small fields: never its history
-- or data), write it with one, and gather sorted-set writes to apply them
-- with one call per key at the end (zflush).
local KEYS, ARGV, P, NOW, RET
-- The state of one call: the wake-up topics to publish, the gathered
-- sorted-set writes (zput), the finished parents whose continuations are
-- still to resolve (finished),
-- and the expiring jobs to file (place), as ID, expiry pairs.
-- queued holds the queues jobs were filed in (created, or moved into an
-- index of a queue), for the set of queues, and left those jobs left
-- (moved out of, or removed), whose names done takes out of the set when
-- no index of theirs holds a job any more; readyKeys and stateKeys hold
-- the key names of ready sets, by queue, and of per-state indexes, by
-- state and queue.
local wake, zops, pending, expiring, queued, left, readyKeys, stateKeys
-- Flow control (lua/limitlib.lua, loaded after this file): flowLeave gives
-- back the slots of a job leaving Processing, flowFile files an Enqueued
-- job in its partition's set when its queue is served by partition,
-- flowUnfile takes it out of that set, and flowFlush writes the counts and
-- rate times a call changed.
local flowLeave, flowFile, flowUnfile, flowFlush

local function setup(keys, args)
  KEYS, ARGV = keys, args
  P, NOW, RET = args[1], args[2], tonumber(args[3])
  wake, zops, pending, expiring, queued, left, readyKeys, stateKeys = 0, {}, {}, {}, {}, {}, {}, {}
end

local SEP = '\31'
local TOPIC_ENQUEUED, TOPIC_SCHEDULED, TOPIC_FINISHED = 1, 2, 8
local FINISHED = {succeeded = true, failed = true, deleted = true}
local FINAL = {succeeded = true, deleted = true}
-- States listed by the per-state, per-queue lexicographic indexes. Enqueued
-- jobs are listed from their ready set, Processing ones from the lease set,
-- and both by ID from one more such index per queue, s:active:<queue>,
-- which a fetch leaves alone: with the others it lists every job of a
-- queue by ID.
local INDEXED = {scheduled = true, awaiting = true, succeeded = true, failed = true, deleted = true}
local ACTIVE = {enqueued = true, processing = true}
-- Values longer than PIECE bytes, up to PIECES pieces, are stored in pieces
-- (name, name#2, name#3, ...), so that a job's hash keeps Redis' compact
-- encoding (hash-max-listpack-value is 64 by default). See appendValue in
-- jobs.go.
local PIECE, PIECES = 64, 8

local function jk(id) return P .. 'j:' .. id end

-- stateKey returns the key of the index of the jobs of queue q in state s.
local function stateKey(s, q)
  local byQ = stateKeys[s]
  if not byQ then
    byQ = {}
    stateKeys[s] = byQ
  end
  local k = byQ[q]
  if not k then
    k = P .. 's:' .. s .. ':' .. q
    byQ[q] = k
  end
  return k
end

-- readyKey returns the key of queue q's ready set.
local function readyKey(q)
  local k = readyKeys[q]
  if not k then
    k = P .. 'q:' .. q
    readyKeys[q] = k
  end
  return k
end

-- A lease is one field, l: "token SEP expiry SEP owner"; "" when the job
-- holds none. Fields a state no longer needs are set to "" rather than
-- deleted, which would take one more call per job.
local function lease(l)
  local tok, untilAt, owner = string.match(l or '', '^(%d+)\31(%d+)\31(.*)$')
  return tok, untilAt, owner
end

-- holds reports whether lease l is held under token tok and, unless owner
-- is "", by owner.
local function holds(l, tok, owner)
  local e = l and string.find(l, SEP, 1, true)
  if not e or string.sub(l, 1, e - 1) ~= tok then return false end
  return owner == '' or string.sub(l, -#owner - 1) == SEP .. owner
end

local function enqueuedData(queue, reason)
  return ARGV[4] .. cjson.encode(queue) .. ARGV[5] .. cjson.encode(reason) .. ARGV[6]
end

-- call calls redis command cmd on key with the arguments in list, in
-- slices small enough to unpack.
local function call(cmd, key, list)
  for i = 1, #list, 4000 do
    redis.call(cmd, key, unpack(list, i, math.min(i + 3999, #list)))
  end
end

-- Sorted-set writes, gathered: zops[key][member] is the member's new score,
-- or false to remove it.
local function zput(key, member, score)
  local t = zops[key]
  if not t then
    t = {}
    zops[key] = t
  end
  t[member] = score
end
local function zflush()
  for key, t in pairs(zops) do
    local add, rem = {}, {}
    for m, s in pairs(t) do
      if s then
        add[#add + 1] = s
        add[#add + 1] = m
      else
        rem[#rem + 1] = m
      end
    end
    call('ZREM', key, rem)
    call('ZADD', key, add)
  end
  zops = {}
end

-- sequence returns the next enqueue sequence: the server's clock in
-- microseconds, or one more than the last sequence when that is later, so
-- that sequences grow on each server and those of the shards of a store
-- (see shards.go), on one clock, sort as their jobs were enqueued. The
-- call's last sequence is written back by done. seqFor is the call
-- (its ARGV) that seqNext belongs to. lastSeq remembers, by key, the last
-- sequence this server handed out, so that only its first call since the
-- library was loaded reads the key: the Lua state lives as long as the
-- server process, and a key another server wrote (after a failover, say)
-- at worst starts this server's sequences at its clock.
local seqNext, seqFor
local lastSeq = {}
local function sequence()
  if seqFor ~= ARGV then
    local t = redis.call('TIME')
    local clock = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local last = lastSeq[KEYS[1]] or tonumber(redis.call('GET', KEYS[1]) or '0')
    seqNext, seqFor = math.max(last + 1, clock), ARGV
  end
  local v = seqNext
  seqNext = v + 1
  return v
end

-- token returns the next fencing token of a lease: the server's clock in
-- microseconds, or one more than the last token when that is later, so
-- that tokens grow. A token must never be handed out twice, even when the
-- last token written is lost: to a crash of a server that fsyncs its
-- append-only file every second, or to a failover onto a replica that had
-- not received it. Tokens follow the clock, so those lost were below the
-- clock of the moment they were lost, give or take how far tokens ran
-- ahead of it (one per microsecond at most); and a server that finds a
-- last token other than the one it wrote itself (it is a new process, a
-- promoted replica, or the key was rolled back) starts TOKEN_GAP (one
-- second) past its clock. So a token repeats only if the clocks of the
-- servers taking over from each other disagree by more than the outage
-- plus a second. The call's last token is written back by done, with the
-- sequence. tokFor is the call (its ARGV) that tokNext belongs to;
-- tokWritten remembers, by key, the last token this server wrote.
local TOKEN_GAP = 1000000
local tokNext, tokFor
local tokWritten = {}
local function token()
  if tokFor ~= ARGV then
    local t = redis.call('TIME')
    local clock = tonumber(t[1]) * 1000000 + tonumber(t[2])
    local last = tonumber(redis.call('GET', P .. 'tok') or '0')
    if tokWritten[P] ~= last then last = math.max(last, clock + TOKEN_GAP) end
    tokNext, tokFor = math.max(last + 1, clock), ARGV
  end
  local v = tokNext
  tokNext = v + 1
  return string.format('%d', v) -- as %.0f, for integers up to 2^53, at a fraction of its cost
end

-- digits returns integer n in decimal: what Lua makes of a number passed
-- to Redis or joined to a string, at a fraction of the cost (Lua formats
-- numbers with %.14g, glibc's floating-point path). Counts, sequences,
-- tokens and scores go to Redis as strings for that reason.
local function digits(n) return string.format('%d', n) end

-- put appends to the field/value list a the fields that hold value v under
-- name.
local function put(a, name, v)
  local n = #v
  if n <= PIECE or n > PIECE * PIECES then
    a[#a + 1] = name
    a[#a + 1] = v
    return
  end
  local k = 0
  for i = 1, n, PIECE do
    k = k + 1
    a[#a + 1] = k == 1 and name or name .. '#' .. k
    a[#a + 1] = string.sub(v, i, i + PIECE - 1)
  end
end

-- entry encodes a history entry. A job's history ends with its current
-- state: a change appends an entry and never reads the ones before.
-- Its state is stored as a letter and its time in base 52, written with
-- letters (see entryTime in codec.go).
local CODE = {enqueued = 'E', scheduled = 'S', awaiting = 'A', processing = 'P', succeeded = 'O', failed = 'F', deleted = 'D'}
local B52 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
local lastAt, lastAtCode
local function entry(state, at, reason, data)
  if at ~= lastAt then
    local n, s = tonumber(at), ''
    repeat
      local d = n % 52
      s = string.sub(B52, d + 1, d + 1) .. s
      n = (n - d) / 52
    until n == 0
    lastAt, lastAtCode = at, s
  end
  return (CODE[state] or state) .. SEP .. lastAtCode .. SEP .. reason .. SEP .. data
end

-- The fields load reads: none of the history.
local LOAD = {'s', 'q', 'hn', 'p', 'l', 'x', 'b', 'pa', 'on', 'ra', 'qs', 'aw', 't', 'pk'}

-- load reads what the scripts need of a job, or nil if it does not exist.
local function load(id)
  local v = redis.call('HMGET', jk(id), unpack(LOAD))
  if not v[1] then return nil end
  return {id = id, s = v[1], q = v[2] or '', hn = tonumber(v[3] or '1'), p = tonumber(v[4] or '0'), l = v[5],
    x = v[6] ~= '' and v[6] or nil, b = v[7] or '', pa = v[8] or '', on = v[9] or '', ra = v[10], qs = v[11] or '',
    aw = v[12], t = v[13] or '', pk = v[14] or ''}
end

-- The fields loadFinishing reads: what a leased job needs to finish (it is
-- not enqueued, scheduled or awaiting, and it stays in its queue). Fields
-- a job lacks cost the most to look up (the whole hash is scanned).
local FINISHING = {'s', 'q', 'hn', 'l', 'x', 'b', 'aw', 't', 'pk'}

-- loadFinishing reads a job about to finish as load does, or nil if it
-- does not exist. A job that is not Processing is read by load.
local function finishingJob(id, v)
  if not v[1] then return nil end
  if v[1] ~= 'processing' then return load(id) end
  return {id = id, s = v[1], q = v[2] or '', hn = tonumber(v[3] or '1'), l = v[4], x = v[5] ~= '' and v[5] or nil,
    b = v[6] or '', aw = v[7], pa = '', on = '', qs = '', p = 0, t = v[8] or '', pk = v[9] or ''}
end
local function loadFinishing(id)
  return finishingJob(id, redis.call('HMGET', jk(id), unpack(FINISHING)))
end

-- A continuation is in its parent's index c:<parent> (by ID, all scored 0)
-- from its creation to its removal, for the list of the parent's
-- continuations (see listing.go).
local function continues(id, pa)
  if pa ~= '' then zput(P .. 'c:' .. pa, id, '0') end
end

-- unplace takes job j out of the indexes of its current state, and
-- appends to the field/value list a the clearing of fields that only that
-- state had.
local function unplace(j, a)
  if ACTIVE[j.s] then zput(stateKey('active', j.q), j.id, false) end
  if j.s == 'enqueued' then
    zput(readyKey(j.q), j.qs .. j.id, false)
    flowUnfile(j)
    left[j.q] = true
  elseif INDEXED[j.s] then
    zput(stateKey(j.s, j.q), j.id, false)
    left[j.q] = true
  end
  if j.s == 'scheduled' then
    zput(P .. 'sched', j.id, false)
  elseif j.s == 'processing' then
    zput(P .. 'lease', j.id, false)
    flowLeave(j)
    a[#a + 1] = 'l'
    a[#a + 1] = ''
  end
  if j.x then
    a[#a + 1] = 'x'
    a[#a + 1] = ''
    j.x = nil
  end
end

-- readyScore returns the score in its ready set of a job of priority p
-- (a number, or its decimal string): -p, as the string '0' for priority 0,
-- the usual one, which spares a number's formatting (see digits).
local function readyScore(p)
  if p == 0 or p == '0' then return '0' end
  return 0 - p
end

-- place files job j in the indexes of its current state, and appends to
-- the field/value list a the fields that it needs there.
local function place(j, a)
  if ACTIVE[j.s] then zput(stateKey('active', j.q), j.id, '0') end
  if j.s == 'enqueued' then
    -- Scored by priority; within a priority, members (the enqueue sequence,
    -- fixed width, then the ID) sort first-enqueued first.
    j.qs = string.format('%016d', sequence()) -- 16 digits hold every integer a double holds exactly
    local sc = readyScore(j.p)
    zput(readyKey(j.q), j.qs .. j.id, sc)
    flowFile(j.q, j.t, j.pk, j.qs .. j.id, sc)
    a[#a + 1] = 'qs'
    a[#a + 1] = j.qs
    wake = bit.bor(wake, TOPIC_ENQUEUED)
    queued[j.q] = true
  elseif INDEXED[j.s] then
    zput(stateKey(j.s, j.q), j.id, '0')
    queued[j.q] = true
  end
  if j.s == 'scheduled' then
    zput(P .. 'sched', j.id, j.ra or '0')
    wake = bit.bor(wake, TOPIC_SCHEDULED)
  end
  if j.x then
    expiring[#expiring + 1] = j.id
    expiring[#expiring + 1] = j.x
  end
end

-- account keeps the counts of j's batch as it moves from state from to
-- state to (nil for a new or a removed job), and the index of batches by
-- ID (batches) as its first job comes and its last goes.
local function account(b, from, to)
  if b == '' then return end
  local df, ds = 0, 0
  if from and FINISHED[from] then df = df - 1 end
  if from == 'succeeded' then ds = ds - 1 end
  if to and FINISHED[to] then df = df + 1 end
  if to == 'succeeded' then ds = ds + 1 end
  local k = P .. 'b:' .. b
  if not from and redis.call('HINCRBY', k, 't', 1) == 1 then zput(P .. 'batches', b, '0') end
  if not to then
    if redis.call('HINCRBY', k, 't', -1) <= 0 then
      redis.call('DEL', k, P .. 'bm:' .. b)
      zput(P .. 'batches', b, false)
      return
    end
  end
  if df ~= 0 then redis.call('HINCRBY', k, 'f', df) end
  if ds ~= 0 then redis.call('HINCRBY', k, 'ok', ds) end
end

-- move changes j's state: the traversed entries trav (encoded) and the new
-- state are appended to its history, and j is filed anew. x is the
-- expiry to set, newq the queue to move to, ra the run time to set (each
-- nil to leave alone); extra are more fields to set.
local function move(j, to, data, reason, trav, x, newq, ra, extra)
  local a = {}
  unplace(j, a)
  local n = j.hn
  if trav then
    for _, e in ipairs(trav) do
      n = n + 1
      put(a, 'h' .. digits(n), e)
    end
  end
  n = digits(n + 1)
  put(a, 'h' .. n, entry(to, NOW, reason, data))
  local k = #a
  a[k + 1], a[k + 2], a[k + 3], a[k + 4] = 'hn', n, 's', to
  if newq then a[#a + 1] = 'q'; a[#a + 1] = newq end
  if ra then a[#a + 1] = 'ra'; a[#a + 1] = ra end
  if x then a[#a + 1] = 'x'; a[#a + 1] = x end
  if extra then
    for _, v in ipairs(extra) do a[#a + 1] = v end
  end
  account(j.b, j.s, to)
  j.s, j.hn, j.x = to, n, x
  if newq then j.q = newq end
  if ra then j.ra = ra end
  place(j, a)
  redis.call('HSET', jk(j.id), unpack(a))
end

local function requeue(j, reason)
  move(j, 'enqueued', enqueuedData(j.q, reason), reason)
end

-- Continuations. pending lists parents (jobs and batches) that have
-- finished and whose Awaiting jobs are still to be resolved. A parent that
-- has some has the field aw set.

local function finished(j)
  if j.aw then pending[#pending + 1] = {j.id, j.s == 'succeeded'} end
  if j.b ~= '' then
    local b = redis.call('HMGET', P .. 'b:' .. j.b, 't', 'f', 'ok', 'aw')
    if b[4] and tonumber(b[2] or '0') == tonumber(b[1]) then
      pending[#pending + 1] = {j.b, tonumber(b[3] or '0') == tonumber(b[1])}
    end
  end
end

local function conditionHolds(on, success)
  if on == 'finish' then return true end
  if on == 'failure' then return not success end
  return success
end

-- A continuation whose field ar is "1" (states.Awaiting.ArgsFromResult)
-- takes its parent's result as args. The result is read from the data of
-- the parent's current state, which is stored packed (packData in
-- codec.go): unpackData undoes that with UNPACKED, the data tokens by the
-- byte that stands for each, defined before this file (luaDataTokens).
local function unpackData(d)
  if string.byte(d, 1) == 30 then return string.sub(d, 2) end -- rawMark: stored as is
  return (string.gsub(d, '[\1-\29]', function(c) return UNPACKED[string.byte(c)] end))
end

local B64 -- the value of each base64 digit, by byte; built on first use (the library's load may not call string)
-- unbase64 decodes padded standard base64, as encoding/json writes []byte.
local function unbase64(s)
  if not B64 then
    B64 = {[61] = 0} -- '=' pads
    for i = 1, 64 do B64[string.byte('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', i)] = i - 1 end
  end
  local out = {}
  for i = 1, #s - 3, 4 do
    local a, b, c, d = string.byte(s, i, i + 3)
    local n = B64[a] * 262144 + B64[b] * 4096 + B64[c] * 64 + B64[d]
    local x, y, z = math.floor(n / 65536), math.floor(n / 256) % 256, n % 256
    if c == 61 then
      out[#out + 1] = string.char(x)
    elseif d == 61 then
      out[#out + 1] = string.char(x, y)
    else
      out[#out + 1] = string.char(x, y, z)
    end
  end
  return table.concat(out)
end

-- resultOf returns the result held by d, the JSON of a Succeeded state
-- (states.Succeeded.MarshalJSON): the JSON under "result", which runs to
-- the last ',"latency":' (the reason after it, a JSON string, cannot hold
-- one), else the base64 under "result_bytes" decoded, else "".
local function resultOf(d)
  local _, e = string.find(d, '","result":', 1, true)
  if e then
    local last, i = #d + 1, e
    while true do
      local k = string.find(d, ',"latency":', i + 1, true)
      if not k then break end
      last, i = k, k
    end
    return string.sub(d, e + 1, last - 1)
  end
  local _, b = string.find(d, '"result_bytes":"', 1, true)
  if b then return unbase64(string.sub(d, b + 1, (string.find(d, '"', b + 1, true) or #d + 1) - 1)) end
  return ''
end

-- argsFromResult returns the fields that make the result of the parent of
-- continuation c its args, when c takes them and its parent is a job that
-- Succeeded; else nil.
local function argsFromResult(c)
  if redis.call('HGET', jk(c.id), 'ar') ~= '1' then return nil end
  local pk = jk(c.pa)
  local v = redis.call('HMGET', pk, 's', 'hn')
  if v[1] ~= 'succeeded' then return nil end
  local h = 'h' .. (v[2] or '1')
  local names = {h}
  for k = 2, PIECES do names[k] = h .. '#' .. k end
  local parts, e = redis.call('HMGET', pk, unpack(names)), {}
  for k = 1, PIECES do
    if not parts[k] then break end
    e[k] = parts[k]
  end
  local data = string.match(table.concat(e), '^[^\31]*\31[^\31]*\31[^\31]*\31(.*)$')
  if not data then return nil end
  local old = {}
  for k = 2, PIECES do old[#old + 1] = 'a#' .. k end
  redis.call('HDEL', jk(c.id), unpack(old)) -- pieces of the args it had
  local a = {}
  put(a, 'a', resultOf(unpackData(data)))
  return a
end

-- resolve moves an Awaiting job on once its parent has finished.
local function resolve(c, success)
  if conditionHolds(c.on, success) then
    local reason = 'parent finished'
    move(c, 'enqueued', enqueuedData(c.q, reason), reason, nil, nil, nil, nil, success and argsFromResult(c) or nil)
    return
  end
  local x
  if RET > 0 then x = string.format('%.0f', tonumber(NOW) + RET) end
  move(c, 'deleted', ARGV[7], 'continuation condition was not met', nil, x)
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

-- await files Awaiting job c under its unfinished parent.
local function await(c)
  redis.call('SADD', P .. 'aw:' .. c.pa, c.id)
  if redis.call('EXISTS', jk(c.pa)) == 1 then
    redis.call('HSET', jk(c.pa), 'aw', '1')
  else
    redis.call('HSET', P .. 'b:' .. c.pa, 'aw', '1')
  end
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

-- existing returns how many of keys exist, asking in slices small enough
-- to unpack.
local function existing(keys)
  local n = 0
  for i = 1, #keys, 4000 do
    n = n + redis.call('EXISTS', unpack(keys, i, math.min(i + 3999, #keys)))
  end
  return n
end

-- plainCreate stores the groups of a create call, g of them from ARGV[i]
-- on (each its now, its number of jobs and its jobs; see create.lua), when
-- every job goes straight to Enqueued with neither a unique key nor a
-- batch, none is stored yet and no ID comes twice: most creates, single,
-- gathered or bulk. It checks every ID with one call, builds no table per
-- job, and returns {'ok'} for each group (its jobs are stored under the
-- IDs given: the caller knows them). Otherwise it stores nothing and
-- returns nil: the general path then stores each group, or says why not.
local function plainCreate(i, g)
  local first, keys, ends, sizes, seen = i, {}, {}, {}, {}
  for r = 1, g do
    i = i + 2 -- the group's now and its number of jobs
    sizes[r] = tonumber(ARGV[i - 1])
    for _ = 1, sizes[r] do
      local id = ARGV[i]
      if ARGV[i + 1] ~= 'enqueued' or ARGV[i + 5] ~= '' or ARGV[i + 7] ~= '' or seen[id] then return nil end
      seen[id] = true
      local x = #keys + 1
      keys[x], ends[x] = jk(id), i + 9 + 2 * tonumber(ARGV[i + 9])
      i = ends[x] + 1
    end
  end
  if existing(keys) > 0 then return nil end
  local res, ok, x = {}, {'ok'}, 0
  i = first
  for r = 1, g do
    i = i + 2
    for _ = 1, sizes[r] do
      x = x + 1
      local q, f2, sc = ARGV[i + 2], ends[x], readyScore(ARGV[i + 3])
      local qs = string.format('%016d', sequence())
      zput(readyKey(q), qs .. ARGV[i], sc)
      zput(stateKey('active', q), ARGV[i], '0')
      continues(ARGV[i], ARGV[i + 6])
      redis.call('HSET', keys[x], 'qs', qs, unpack(ARGV, i + 10, f2))
      flowFile(q, ARGV[i + 11], ARGV[i + 17], qs .. ARGV[i], sc)
      queued[q] = true
      i = f2 + 1
    end
    res[r] = ok
  end
  if x > 0 then wake = bit.bor(wake, TOPIC_ENQUEUED) end
  return res
end

-- create stores the jobs described from ARGV[i] on, all or none (see
-- appendJobs in jobs.go for the layout). It returns {'ok', ids...}, or
-- {'dup', id} or {'nf', id, parent} having stored nothing, and the index
-- of the argument after the jobs.
local function create(i)
  local n = tonumber(ARGV[i]); i = i + 1
  local jobs, awaits = {}, false
  for x = 1, n do
    local f1, f2 = i + 10, i + 9 + 2 * tonumber(ARGV[i + 9])
    local j = {id = ARGV[i], s = ARGV[i + 1], q = ARGV[i + 2], p = tonumber(ARGV[i + 3]), ra = ARGV[i + 4], k = ARGV[i + 5],
      pa = ARGV[i + 6], b = ARGV[i + 7], on = ARGV[i + 8], hn = 1, f1 = f1, f2 = f2, t = ARGV[i + 11], pk = ARGV[i + 17]}
    j.key = jk(j.id)
    if j.ra == '' then j.ra = nil end
    if j.s == 'awaiting' then awaits = true end
    i = f2 + 1
    jobs[x] = j
  end
  local after = i
  local out, seen, claimed = {'ok'}, nil, nil
  for x = 1, n do
    local j = jobs[x]
    out[x + 1] = j.id
    if n > 1 then
      seen = seen or {}
      if seen[j.id] then return {'dup', j.id}, after end
      seen[j.id] = true
    end
    if redis.call('EXISTS', j.key) == 1 then return {'dup', j.id}, after end
    if j.k ~= '' then
      claimed = claimed or {}
      local h = holder(j.k) or claimed[j.k]
      if h then
        out[x + 1], j.skip = h, true
      else
        claimed[j.k] = j.id
      end
    end
  end
  if awaits then
    local inCall = {}
    for _, j in ipairs(jobs) do
      if not j.skip then -- a parent held back by its key is not in the call
        inCall[j.id] = true
        if j.b ~= '' then inCall[j.b] = true end
      end
    end
    for _, j in ipairs(jobs) do
      if not j.skip and j.s == 'awaiting' and not inCall[j.pa] and redis.call('EXISTS', jk(j.pa)) == 0
        and redis.call('EXISTS', P .. 'b:' .. j.pa) == 0 then
        return {'nf', j.id, j.pa}, after
      end
    end
  end
  for x = 1, n do
    local j = jobs[x]
    if not j.skip then
      if j.s == 'enqueued' then
        -- place, for a job that has no expiry, writing its fields with one
        -- unpack.
        local qs, sc = string.format('%016d', sequence()), readyScore(j.p)
        zput(readyKey(j.q), qs .. j.id, sc)
        zput(stateKey('active', j.q), j.id, '0')
        wake = bit.bor(wake, TOPIC_ENQUEUED)
        redis.call('HSET', j.key, 'qs', qs, unpack(ARGV, j.f1, j.f2))
        flowFile(j.q, j.t, j.pk, qs .. j.id, sc)
      else
        local a = {unpack(ARGV, j.f1, j.f2)}
        place(j, a)
        redis.call('HSET', j.key, unpack(a))
      end
      continues(j.id, j.pa)
      if j.k ~= '' then redis.call('SET', P .. 'u:' .. j.k, j.id) end
      if j.b ~= '' then
        account(j.b, nil, j.s)
        redis.call('SADD', P .. 'bm:' .. j.b, j.id)
      end
      queued[j.q] = true
    end
  end
  if awaits then
    for _, j in ipairs(jobs) do
      if not j.skip and j.s == 'awaiting' then
        local c = load(j.id)
        if c and c.s == 'awaiting' then
          local fin, ok = outcome(c.pa)
          if fin then
            resolve(c, ok)
            drain()
          else
            await(c)
          end
        end
      end
    end
  end
  return out, after
end

-- remove deletes job j and everything that points at it.
local function remove(j)
  unplace(j, {})
  if j.pa ~= '' then zput(P .. 'c:' .. j.pa, j.id, false) end
  local k = jk(j.id)
  local key = redis.call('HGET', k, 'k')
  if key and redis.call('GET', P .. 'u:' .. key) == j.id then redis.call('DEL', P .. 'u:' .. key) end
  if j.b ~= '' then
    redis.call('SREM', P .. 'bm:' .. j.b, j.id)
    account(j.b, j.s, nil)
  end
  redis.call('DEL', k, P .. 'log:' .. j.id, P .. 'prog:' .. j.id, P .. 'aw:' .. j.id)
end

-- Final jobs with an expiry are filed in buckets of at most XB entries:
-- sorted sets x:<n> of IDs by expiry, small enough for Redis' compact
-- encoding (zset-max-listpack-entries is 128 by default), which takes a
-- third of the memory of a large sorted set's entry. Entries are numbered
-- in the order filed (counter xn) and bucket n holds entries n*XB to
-- n*XB+XB-1; xb holds the buckets scored by the earliest expiry they hold.
-- An entry stays when its job moves on: prune drops the entries whose job
-- no longer has their expiry. Nothing else writes a bucket in the call
-- that files into it, so each bucket is written directly, with its
-- entries last filed first: expiries grow in the order filed, and a
-- compact sorted set finds the place of a new lowest score at its head
-- rather than after walking every entry.
local XB = 128
local function expflush()
  local n = #expiring / 2
  if n == 0 then return end
  local first = redis.call('INCRBY', P .. 'xn', n) - n + 1 -- the number of the first entry
  local i = n
  while i >= 1 do
    local bucket = math.floor((first + i - 1) / XB)
    local from = math.max(1, bucket * XB - first + 1)
    local b, add, min = string.format('%.0f', bucket), {}, nil
    for k = i, from, -1 do
      local x = expiring[2 * k]
      add[#add + 1] = x
      add[#add + 1] = expiring[2 * k - 1]
      -- expiries (Unix microseconds since 1970, decimal, without leading
      -- zeros) compare as numbers by length, then as strings: no parsing
      if not min or #x < #min or (#x == #min and x < min) then min = x end
    end
    redis.call('ZADD', P .. 'x:' .. b, unpack(add))
    redis.call('ZADD', P .. 'xb', 'LT', min, b)
    i = from - 1
  end
  expiring = {}
end

-- emptyQueue reports whether no index of queue q (its ready set, its
-- per-state indexes) holds a job. Its Processing jobs, in the lease set
-- only, are not looked for: a job is filed again under its queue (see
-- queued) when it leaves Processing.
local function emptyQueue(q)
  return redis.call('EXISTS', readyKey(q), stateKey('scheduled', q), stateKey('awaiting', q), stateKey('succeeded', q),
    stateKey('failed', q), stateKey('deleted', q)) == 0
end

-- done applies the gathered writes and announces the changes; every
-- script that changes jobs ends with it.
local function done()
  flowFlush()
  expflush()
  zflush()
  local qs, gone = {}, {}
  for q in pairs(queued) do qs[#qs + 1] = q end
  for q in pairs(left) do
    if not queued[q] and emptyQueue(q) then gone[#gone + 1] = q end
  end
  if #qs > 0 then call('SADD', P .. 'queues', qs) end
  if #gone > 0 then
    call('SREM', P .. 'queues', gone)
    call('SREM', P .. 'pq', gone) -- a queue served by partition starts again plain
  end
  if wake ~= 0 then redis.call('PUBLISH', P .. 'wake', wake) end
  if seqFor == ARGV then
    lastSeq[KEYS[1]] = seqNext - 1
    redis.call('SET', KEYS[1], string.format('%d', seqNext - 1))
    seqFor = nil
  end
  if tokFor == ARGV then
    tokWritten[P] = tokNext - 1
    redis.call('SET', P .. 'tok', string.format('%d', tokNext - 1))
    tokFor = nil
  end
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
      zput(P .. set, id, false)
    end
  end
  return n
end
