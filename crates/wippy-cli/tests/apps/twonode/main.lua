-- Run with -x on one node, with the other node's name as its argument.
local io = require("io")
local time = require("time")

local function main()
    local other = io.args()[1]
    local me = string.match(process.pid(), "^{([%w_-]+)%.")
    -- The other node's service registers its name once that node is up.
    local pong
    for _ = 1, 300 do
        pong = process.registry.lookup("pong." .. other)
        if pong then break end
        time.sleep("50ms")
    end
    if not pong then
        io.print("no pong." .. other .. " in the cluster")
        return 1
    end

    -- Ping-pong across the nodes, in order.
    local pongs = process.listen("pong")
    local rounds = 100
    for n = 1, rounds do
        assert(process.send("pong." .. other, "ping", { n = n, reply = process.pid() }))
        local answer = pongs:receive()
        if answer.n ~= n or answer.node ~= other then
            io.print("ping " .. n .. " got " .. tostring(answer.n) .. " from " .. tostring(answer.node))
            return 1
        end
    end
    io.print("ping-pong: " .. rounds .. " rounds between " .. me .. " and " .. other)

    -- A pool of workers spread over both nodes; each EXIT carries its result.
    local events = process.events()
    local jobs, spawned = 10, {}
    for n = 1, jobs do
        local node = (n % 2 == 0) and other or me
        local pid, err = process.spawn_monitored("app:worker", node .. "@app:workers", n)
        if not pid then
            io.print("spawn on " .. node .. " failed: " .. tostring(err))
            return 1
        end
        spawned[pid] = true
    end
    local sum, per_node = 0, {}
    for _ = 1, jobs do
        local ev = events:receive()
        if ev.kind == process.event.EXIT and spawned[ev.from] then
            local r = ev.result.value
            sum = sum + r.square
            per_node[r.node] = (per_node[r.node] or 0) + 1
        end
    end
    io.print(string.format("pool: %d jobs, %d on %s, %d on %s, sum of squares %d",
        jobs, per_node[me] or 0, me, per_node[other] or 0, other, sum))
    return 0
end

return { main = main }
