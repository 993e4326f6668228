-- logs: JobLogs.AppendLogs and SetProgress. KEYS[1] any key of the store.
-- ARGV[1] key prefix, ARGV[2] "log" to append records or "prog" to set
-- progress, ARGV[3] the most log records a job keeps (its latest), then
-- job ID and encoded record pairs. Records of jobs that do not exist are
-- dropped.
local P, kind, keep = ARGV[1], ARGV[2], tonumber(ARGV[3])
local logged = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('EXISTS', P .. 'j:' .. id) == 1 then
    if kind == 'log' then
      if redis.call('RPUSH', P .. 'log:' .. id, ARGV[i + 1]) > keep then logged[id] = true end
    else
      redis.call('SET', P .. 'prog:' .. id, ARGV[i + 1])
    end
  end
end
for id in pairs(logged) do redis.call('LTRIM', P .. 'log:' .. id, -keep, -1) end
return 0
