-- The shared acceptance app `cancel`, with Wippy's answers: `cancel`'s second
-- argument is a reason, a process that ignores CANCEL is terminated at its
-- host's cancel_deadline (ours), and a send to an ended process is NotFound.
local io = require("io")
local time = require("time")

local function main(): integer
    local events = process.events()
    local p = process.spawn_monitored("app:polite", "app:workers")
    for i = 1, 3 do process.send(p, "work", i) end
    time.sleep("20ms")
    process.cancel(p, "shutting down")
    local ev = events:receive()
    io.print("polite: " .. tostring(ev.result.value))

    local s = process.spawn_monitored("app:stubborn", "app:workers")
    process.cancel(s, "please")
    local ev2 = events:receive()
    io.print("stubborn ended with error: " .. tostring(ev2.from == s and ev2.result.error ~= nil))

    local k = process.spawn_monitored("app:stubborn", "app:workers")
    process.terminate(k)
    local ev3 = events:receive()
    io.print("terminated: " .. tostring(ev3.from == k and ev3.result.error ~= nil))
    io.print("terminated kind: " .. ev3.result.error:kind())

    local ok, err = process.send(p, "@internal", 1)
    io.print("reserved topic rejected: " .. tostring(ok == nil and err:kind() == errors.INVALID))
    local ok2, err2 = process.send(p, "work", 1)
    io.print("send to an ended process: " .. tostring(ok2) .. " " .. err2:kind() .. " " .. tostring(err2))
    return 0
end
return { main = main }
