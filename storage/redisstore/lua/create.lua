-- create: Store.Create. ARGV[8] number of groups, then per group its now
-- (µs) and its jobs (see create in lib.lua). Each group is stored all or
-- none, as a call of its own after the groups before it would; the groups
-- are the Create calls gathered into this one (see gather.go). Returns
-- create's result for each group.
local res, i = {}, 9
for g = 1, tonumber(ARGV[8]) do
  NOW = ARGV[i]
  res[g], i = create(i + 1)
end
done()
return res
