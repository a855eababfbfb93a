local function waits()
    process.inbox():receive()
    return true
end
local function spins()
    local n = 0
    while true do n = n + 1 end
end
local function passes() return true end
return { waits = waits, spins = spins, passes = passes }
