-- fetch: Store.Fetch.
-- ARGV[8] owner, ARGV[9] lease expiry (µs), ARGV[10] the Processing state's
-- JSON, ARGV[11] limit, ARGV[12] number of queues, then per queue its name
-- and the score range to take (min, max; see fetchRanges in jobs.go).
-- Returns each leased job's fields (HGETALL, then "id" and its ID), in the
-- order served.
local owner, untilAt, data, limit = ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local out = {}
local i = 13
for _ = 1, tonumber(ARGV[12]) do
  local q, min, max = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if #out < limit and redis.call('SISMEMBER', P .. 'paused', q) == 0 then
    local members = redis.call('ZRANGEBYSCORE', P .. 'q:' .. q, min, max, 'LIMIT', 0, limit - #out)
    if #members > 0 then
      redis.call('ZREM', P .. 'q:' .. q, unpack(members))
      for _, m in ipairs(members) do
        local id = string.sub(m, 16)
        local k = jk(id)
        local v = redis.call('HMGET', k, 's', 'u', 'r', 'd', 'hn')
        local n = tonumber(v[5] or '0') + 1
        local tok = redis.call('INCR', P .. 'tok')
        redis.call('HSET', k, 'h' .. n, v[1] .. SEP .. (v[2] or '') .. SEP .. (v[3] or '') .. SEP .. (v[4] or ''), 'hn', n,
          's', 'processing', 'd', data, 'r', '', 'u', NOW, 'lo', owner, 'lt', tok, 'lu', untilAt)
        redis.call('HINCRBY', k, 'n', 1)
        redis.call('ZADD', P .. 'lease', untilAt, id)
        local h = redis.call('HGETALL', k)
        h[#h + 1] = 'id'
        h[#h + 1] = id
        out[#out + 1] = h
      end
    end
  end
end
return out
