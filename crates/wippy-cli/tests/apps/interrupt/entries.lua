local io = require("io")

-- Waits for its CANCEL, then finishes with a result.
local function listens()
    local events = process.events()
    io.print("waiting")
    io.flush()
    while events:receive().kind ~= process.event.CANCEL do end
    io.print("got cancel")
    return 3
end

-- Never looks at its events: it is terminated at the deadline.
local function ignores()
    local time = require("time")
    io.print("waiting")
    io.flush()
    time.sleep("1h")
end

return { listens = listens, ignores = ignores }
