-- logs: JobLogs.AppendLogs and SetProgress. KEYS[1] any key of the store.
-- ARGV[1] key prefix, ARGV[2] "log" to append records or "prog" to set
-- progress, then job ID and encoded record pairs. Records of jobs that do
-- not exist are dropped.
local P, kind = ARGV[1], ARGV[2]
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('EXISTS', P .. 'j:' .. id) == 1 then
    if kind == 'log' then
      redis.call('RPUSH', P .. 'log:' .. id, ARGV[i + 1])
    else
      redis.call('SET', P .. 'prog:' .. id, ARGV[i + 1])
    end
  end
end
return 0
