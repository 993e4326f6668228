-- create: Store.Create. ARGV[8] number of groups, then per group its now
-- (µs), its number of jobs and its jobs (see create in lib.lua). Each
-- group is stored all or none, as a call of its own after the groups
-- before it would; the groups are the Create calls gathered into this one
-- (see gather.go). Returns create's result for each group, or {'ok'} for a
-- group stored as given (see plainCreate in lib.lua).
local groups = tonumber(ARGV[8])
local res = plainCreate(9, groups)
if not res then
  res = {}
  local i = 9
  for g = 1, groups do
    NOW = ARGV[i]
    res[g], i = create(i + 1)
  end
end
done()
return res
