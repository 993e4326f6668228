-- transition: Store.Transition.
-- ARGV[8] "1" for all or nothing, ARGV[9] the minute of now (µs, for the
-- statistics), ARGV[10] number of transitions, then per transition: id,
-- from (comma-separated states; "" for any), token ("0" for none), lease
-- owner ("" for any), to,
-- data, reason, queue ("" to keep), run at ("" to keep), expire at ("" for
-- none), "1" to refund the lease's attempt (Transition.Refund), number of
-- traversed entries and the entries, number of params and their name/value
-- pairs.
-- Returns one result per transition: "" when applied, "nf" (no such job),
-- "ll:<state>" (lease lost) or "sc:<state>" (state conflict).
local all, minute = ARGV[8] == '1', ARGV[9]
local ts, i = {}, 11
for x = 1, tonumber(ARGV[10]) do
  local t = {id = ARGV[i], from = ARGV[i + 1], tok = ARGV[i + 2], owner = ARGV[i + 3], to = ARGV[i + 4], data = ARGV[i + 5],
    reason = ARGV[i + 6], q = ARGV[i + 7], ra = ARGV[i + 8], x = ARGV[i + 9], rf = ARGV[i + 10] == '1' and ARGV[i + 2] ~= '0'}
  i = i + 11
  local n = tonumber(ARGV[i])
  if n > 0 then
    t.trav = {unpack(ARGV, i + 1, i + n)}
  end
  i = i + n + 1
  n = tonumber(ARGV[i])
  if n > 0 then
    t.params = {}
    for _ = 1, n do
      t.params[#t.params + 1] = 'p:' .. ARGV[i + 1]
      t.params[#t.params + 1] = ARGV[i + 2]
      i = i + 2
    end
  end
  i = i + 1
  ts[x] = t
end

-- A job leased and finishing needs fewer of its fields than other moves
-- (see loadFinishing).
local function loadFor(t)
  if FINISHED[t.to] and t.q == '' then return loadFinishing(t.id) end
  return load(t.id)
end

local function check(t, j)
  if not j then return 'nf' end
  if t.tok ~= '0' and (j.s ~= 'processing' or not holds(j.l, t.tok, t.owner)) then return 'll:' .. j.s end
  local from = t.from
  if from ~= '' and from ~= j.s then
    for s in string.gmatch(from, '[^,]+') do
      if s == j.s then return '' end
    end
    return 'sc:' .. j.s
  end
  return ''
end

-- finishLeased applies t, a lease's holder finishing its job (to a final
-- state, in its queue, with no traversed states or parameters), when the
-- job is Processing and neither in a batch nor awaited: what move would
-- do, without its tables. It returns t's result, or nil and the job as
-- loadFinishing reads it for the general path.
local function finishLeased(t)
  local key = jk(t.id)
  local v = redis.call('HMGET', key, unpack(FINISHING))
  if v[1] ~= 'processing' or (v[6] or '') ~= '' or v[7] then return nil, finishingJob(t.id, v) end
  if not holds(v[4], t.tok, t.owner) then return 'll:processing' end
  local from = t.from
  if from ~= '' and from ~= 'processing' and not string.find(',' .. from .. ',', ',processing,', 1, true) then
    return 'sc:processing'
  end
  local n, exp = tonumber(v[3] or '1') + 1, FINAL[t.to] and t.x ~= '' and t.x or nil
  local a = {'l', ''}
  if (v[5] or '') ~= '' and not exp then a[3], a[4] = 'x', '' end
  n = digits(n)
  put(a, 'h' .. n, entry(t.to, NOW, t.reason, t.data))
  local k = #a
  a[k + 1], a[k + 2], a[k + 3], a[k + 4] = 'hn', n, 's', t.to
  if exp then
    a[k + 5], a[k + 6] = 'x', exp
    expiring[#expiring + 1] = t.id
    expiring[#expiring + 1] = exp
  end
  zput(P .. 'lease', t.id, false)
  zput(stateKey('active', v[2] or ''), t.id, false)
  flowLeave({q = v[2] or '', t = v[8] or '', pk = v[9] or ''})
  if INDEXED[t.to] then
    zput(stateKey(t.to, v[2] or ''), t.id, '0')
    queued[v[2] or ''] = true
  end
  redis.call('HSET', key, unpack(a))
  return ''
end

local res = {}
if all then
  -- Check every change against the state the changes before it leave, so
  -- that a job named twice is checked as it will be.
  local failed, seen = false, {}
  for x, t in ipairs(ts) do
    local j = seen[t.id] or loadFor(t)
    res[x] = check(t, j)
    if res[x] == '' then
      seen[t.id] = {s = t.to}
    else
      failed = true
    end
  end
  if failed then return res end
end
local counts = {succeeded = 0, failed = 0, deleted = 0}
for x, t in ipairs(ts) do
  local j, r
  if FINISHED[t.to] and t.q == '' and t.tok ~= '0' and not t.trav and not t.params then
    r, j = finishLeased(t)
    if r == '' then
      counts[t.to] = counts[t.to] + 1
      wake = bit.bor(wake, TOPIC_FINISHED)
    end
  else
    j = loadFor(t)
  end
  r = r or check(t, j)
  res[x] = r
  if j and r == '' then
    local newq, ra, exp
    if t.q ~= '' and t.q ~= j.q then newq = t.q end
    if t.to == 'scheduled' and t.ra ~= '' then ra = t.ra end
    if FINAL[t.to] and t.x ~= '' then exp = t.x end
    move(j, t.to, t.data, t.reason, t.trav, exp, newq, ra, t.params)
    if t.rf then
      local n = tonumber(redis.call('HGET', jk(t.id), 'n') or '0')
      if n > 0 then redis.call('HSET', jk(t.id), 'n', n - 1) end
    end
    if FINISHED[t.to] then
      counts[t.to] = counts[t.to] + 1
      wake = bit.bor(wake, TOPIC_FINISHED)
      finished(j)
    end
  end
end
drain()
local counted = false
for s, n in pairs(counts) do
  if n > 0 then
    redis.call('HINCRBY', P .. 'stats', minute .. ':' .. string.sub(s, 1, 1), n)
    counted = true
  end
end
if counted then redis.call('ZADD', P .. 'statsidx', minute, minute) end
done()
return res
