-- Registers `pong.<this node>` in the cluster and answers every ping.
local function main()
    local node = string.match(process.pid(), "^{([%w_-]+)%.")
    local ok, err = process.registry.register("pong." .. node, nil, process.registry.CONSISTENT)
    if not ok then
        error("cannot register pong." .. tostring(node) .. ": " .. tostring(err))
    end
    local inbox = process.inbox()
    while true do
        local m = inbox:receive()
        local ping = m:payload():data()
        process.send(ping.reply, "pong", { n = ping.n, node = node })
    end
end

return { main = main }
