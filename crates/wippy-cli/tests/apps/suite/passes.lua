local function main() return true end
local function silent() end
return { main = main, silent = silent }
