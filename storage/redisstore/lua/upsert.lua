-- upsert: Recurring.UpsertRecurring. KEYS[1] the definition's hash.
-- ARGV[1] key prefix, ARGV[2] ID, ARGV[3] the definition's JSON, ARGV[4]
-- spec, ARGV[5] time zone, ARGV[6] next run, ARGV[7] last run, ARGV[8] last
-- job, ARGV[9] paused ("1"/"0"), ARGV[10] created at, ARGV[11] updated at.
local P, id, k = ARGV[1], ARGV[2], KEYS[1]
local next, last, lastjob, paused, cat = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local old = redis.call('HMGET', k, 'spec', 'tz', 'next', 'last', 'lastjob', 'paused', 'cat')
if old[1] then
  if old[1] == ARGV[4] and old[2] == ARGV[5] then
    next, last, lastjob, paused = old[3] or '', old[4] or '', old[5] or '', old[6] or '0'
  end
  cat = old[7] or ''
end
redis.call('HSET', k, 'def', ARGV[3], 'spec', ARGV[4], 'tz', ARGV[5], 'next', next, 'last', last, 'lastjob', lastjob,
  'paused', paused, 'cat', cat, 'uat', ARGV[11])
redis.call('ZADD', P .. 'recs', 0, id)
if paused ~= '1' and next ~= '' then
  redis.call('ZADD', P .. 'rnext', next, id)
else
  redis.call('ZREM', P .. 'rnext', id)
end
redis.call('PUBLISH', P .. 'wake', 4)
return 1
