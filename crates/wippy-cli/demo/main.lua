-- The embedded demo: spawning, messages, a crash caught by a monitor, a restart.
local io = require("io")
local time = require("time")

local function ask(name: string): string
    process.send("greeter", "hello", { name = name })
    return process.inbox():receive():payload():data()
end

local function wait_registered()
    while not process.registry.lookup("greeter") do time.sleep("1ms") end
end

local function main(): integer
    io.print("wippy demo: I am " .. process.pid())
    local events = process.events()

    local greeter = process.spawn_monitored("demo:greeter", "demo:workers", 1)
    io.print("spawned greeter " .. greeter .. " on demo:workers")
    wait_registered()
    io.print("greeter says: " .. ask("world"))

    io.print("asking the greeter to crash...")
    process.send("greeter", "crash")
    local ev = events:receive()
    io.print("monitor saw " .. ev.kind .. " from " .. ev.from .. ": " .. tostring(ev.result.error):match("^[^\n]*"))

    greeter = process.spawn_monitored("demo:greeter", "demo:workers", 2)
    io.print("restarted greeter as " .. greeter)
    wait_registered()
    io.print("greeter says: " .. ask("again"))

    process.terminate(greeter)
    local ev2 = events:receive()
    io.print("greeter stopped: " .. tostring(ev2.result.error))
    io.print("demo done")
    return 0
end

return { main = main }
