-- create: Store.Create. ARGV[8..]: the jobs (see create in lib.lua).
local out = create(8)
done()
return out
