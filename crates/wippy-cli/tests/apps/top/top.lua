local function until_cancel()
    local events = process.events()
    while events:receive().kind ~= process.event.CANCEL do end
end

-- Takes no messages: the three the sender sends stay in its mailbox.
local function hoarder()
    process.registry.register("hoarder")
    until_cancel()
end

local function sender()
    local time = require("time")
    local to = process.registry.lookup("hoarder")
    while not to do
        time.sleep("5ms")
        to = process.registry.lookup("hoarder")
    end
    for i = 1, 3 do process.send(to, "note", i) end
    until_cancel()
end

-- Busy until its CANCEL, looking for it between bursts.
local function spinner()
    local events = process.events()
    while true do
        local n = 0
        for i = 1, 100000 do n = n + i end
        local r = channel.select { events:case_receive(), default = true }
        if not r.default and r.value.kind == process.event.CANCEL then return end
    end
end

-- Fails at once; given up after its one run (see the supervision tree).
local function broken()
    error("broken on purpose")
end

return { hoarder = hoarder, sender = sender, spinner = spinner, broken = broken }
