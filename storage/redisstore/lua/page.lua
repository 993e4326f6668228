-- page: one page of a sorted set ordered by score, then member (the ready
-- sets and sched), after a place in it. KEYS[1] the set. ARGV[1] the
-- place's score ("" for the start, or the end walking backwards), ARGV[2]
-- its member, ARGV[3] "1" to walk backwards, ARGV[4] the most members to
-- return. Returns member, score, ... in the order walked.
--
-- The place is found by rank: the scores before it counted, then a binary
-- search among the members of its score, each step reading one member,
-- so that a page costs the same at any depth and no command reads more
-- than the page.
local key, curS, curM, fwd, n = KEYS[1], ARGV[1], ARGV[2], ARGV[3] ~= '1', tonumber(ARGV[4])
local r
if curS == '' then
  r = 0
  if not fwd then r = redis.call('ZCARD', key) end
else
  local lo = redis.call('ZCOUNT', key, '-inf', '(' .. curS)
  local hi = lo + redis.call('ZCOUNT', key, curS, curS)
  while lo < hi do -- the first rank whose member is after the place's (forwards) or not before it
    local mid = math.floor((lo + hi) / 2)
    local m = redis.call('ZRANGE', key, mid, mid)[1]
    if m < curM or (fwd and m == curM) then lo = mid + 1 else hi = mid end
  end
  r = lo
end
if fwd then return redis.call('ZRANGE', key, r, r + n - 1, 'WITHSCORES') end
if r == 0 then return {} end
local got = redis.call('ZRANGE', key, math.max(0, r - n), r - 1, 'WITHSCORES')
local out = {}
for i = #got - 1, 1, -2 do
  out[#out + 1] = got[i]
  out[#out + 1] = got[i + 1]
end
return out
