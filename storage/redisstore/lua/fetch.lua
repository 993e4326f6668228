-- fetch: Store.Fetch.
-- ARGV[8] owner, ARGV[9] lease expiry (µs), ARGV[10] the Processing state's
-- JSON, ARGV[11] limit, ARGV[12] number of queues, then per queue its name
-- and the score range to take (min, max; see fetchRanges in jobs.go).
-- Returns each leased job's fields as name/value pairs, as they were
-- before the lease but for the lease (l) and attempt (n), followed by "id"
-- and its ID, in the order served: the caller knows the rest of what
-- changed (state, state data, time; see Fetch in jobs.go).
local owner, untilAt, data, limit = ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local leaseEnd, leases = SEP .. untilAt .. SEP .. owner, P .. 'lease'
local out, leased = {}, {}
local i = 13
for _ = 1, tonumber(ARGV[12]) do
  local q, min, max = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if #out < limit and redis.call('SISMEMBER', P .. 'paused', q) == 0 then
    local members = redis.call('ZRANGEBYSCORE', readyKey(q), min, max, 'LIMIT', 0, limit - #out)
    call('ZREM', readyKey(q), members)
    for _, m in ipairs(members) do
      local id = string.sub(m, -36) -- the member is the enqueue sequence, then the ID
      local k = jk(id)
      local row = redis.call('HGETALL', k)
      local hn, att, st = 1, 0, nil
      for x = 1, #row, 2 do
        local f = row[x]
        if f == 'hn' then hn = tonumber(row[x + 1])
        elseif f == 'n' then att = tonumber(row[x + 1])
        elseif f == 's' then st = row[x + 1]
        end
      end
      -- A member whose job is gone (evicted by a maxmemory policy) or not
      -- Enqueued (a stray entry) is dropped, never leased.
      if st == 'enqueued' then
        local tok = token()
        local l, e = tok .. leaseEnd, entry('processing', NOW, '', data)
        if #e <= PIECE then
          redis.call('HSET', k, 'hn', hn + 1, 's', 'processing', 'l', l, 'n', att + 1, 'qs', '', 'h' .. (hn + 1), e)
        else
          local a = {'hn', hn + 1, 's', 'processing', 'l', l, 'n', att + 1, 'qs', ''}
          put(a, 'h' .. (hn + 1), e)
          redis.call('HSET', k, unpack(a))
        end
        local r = #row
        row[r + 1], row[r + 2], row[r + 3], row[r + 4], row[r + 5], row[r + 6] = 'l', l, 'n', att + 1, 'id', id
        leased[#leased + 1] = untilAt
        leased[#leased + 1] = id
        out[#out + 1] = row
      end
    end
  end
end
call('ZADD', leases, leased)
done()
return out
