-- extend: Store.ExtendLeases.
-- ARGV[8] owner, ARGV[9] new lease expiry (µs; "" only checks), ARGV[10]
-- worker ID ("" for none), ARGV[11] the worker's JSON, ARGV[12] number of
-- jobs, then per job its ID and token.
-- Returns the lost leases as ID, state pairs ("" for a missing job).
local owner, untilAt = ARGV[8], ARGV[9]
if ARGV[10] ~= '' then
  local t = redis.call('TIME')
  redis.call('HSET', P .. 'workers', ARGV[10], ARGV[11])
  redis.call('ZADD', P .. 'hb', t[1] .. string.format('%06d', tonumber(t[2])), ARGV[10])
end
local lost = {}
local i = 13
for _ = 1, tonumber(ARGV[12]) do
  local id, tok = ARGV[i], ARGV[i + 1]
  i = i + 2
  local k = jk(id)
  local v = redis.call('HMGET', k, 's', 'l')
  local held, _, by = lease(v[2])
  if not v[1] then
    lost[#lost + 1] = id
    lost[#lost + 1] = ''
  elseif v[1] ~= 'processing' or held ~= tok or by ~= owner then
    lost[#lost + 1] = id
    lost[#lost + 1] = v[1]
  elseif untilAt ~= '' then
    redis.call('HSET', k, 'l', tok .. SEP .. untilAt .. SEP .. owner)
    zput(P .. 'lease', id, untilAt)
  end
end
done()
return lost
