-- Prints its input, then waits for its CANCEL.
local function echo(name, n)
    print("up " .. tostring(name) .. " " .. tostring(n))
    local events = process.events()
    while events:receive().kind ~= process.event.CANCEL do end
    print("bye " .. tostring(name))
    return "bye"
end

-- Fails at once.
local function crash(name)
    error(tostring(name) .. " failed")
end

-- Ends cleanly at once.
local function done()
    return "all done"
end

-- Never ends on its own, CANCEL or not.
local function stubborn()
    local events = process.events()
    while true do events:receive() end
end

return { echo = echo, crash = crash, done = done, stubborn = stubborn }
