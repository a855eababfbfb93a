local function three() return 3 end
local function raises() error("exec boom") end
local function nothing() end
return { three = three, raises = raises, nothing = nothing }
