-- fetch: Store.Fetch.
-- ARGV[8] owner, ARGV[9] lease expiry (µs), ARGV[10] the Processing state's
-- JSON, ARGV[11] limit, ARGV[12] number of queues, then per queue its name
-- and the score range to take (min, max; see fetchRanges in jobs.go).
-- Returns each leased job's fields as name/value pairs, with "id" and its
-- ID, in the order served.
local owner, untilAt, data, limit = ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local out = {}
local i = 13
for _ = 1, tonumber(ARGV[12]) do
  local q, min, max = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if #out < limit and redis.call('SISMEMBER', P .. 'paused', q) == 0 then
    local members = redis.call('ZRANGEBYSCORE', P .. 'q:' .. q, min, max, 'LIMIT', 0, limit - #out)
    call('ZREM', P .. 'q:' .. q, members)
    for _, m in ipairs(members) do
      local id = string.sub(m, 16)
      local k = jk(id)
      local h = fields(id)
      local d, dk = joined(h, 'd')
      local n = tonumber(h.hn or '0') + 1
      local a, del = {}, {}
      put(a, 'h' .. n, h.s .. SEP .. (h.u or '') .. SEP .. (h.r or '') .. SEP .. d)
      local k2 = put(a, 'd', data)
      for x = k2 + 1, dk do
        del[#del + 1] = 'd#' .. x
        h['d#' .. x] = nil
      end
      for _, v in ipairs({'hn', n, 's', 'processing', 'r', '', 'u', NOW, 'lo', owner,
        'lt', string.format('%.0f', counter(P .. 'tok')), 'lu', untilAt, 'n', tonumber(h.n or '0') + 1}) do
        a[#a + 1] = v
      end
      if #del > 0 then redis.call('HDEL', k, unpack(del)) end
      redis.call('HSET', k, unpack(a))
      zput(P .. 'lease', id, untilAt)
      for x = 1, #a, 2 do h[a[x]] = a[x + 1] end
      local row = {'id', id}
      for name, v in pairs(h) do
        row[#row + 1] = name
        row[#row + 1] = v
      end
      out[#out + 1] = row
    end
  end
end
done()
return out
