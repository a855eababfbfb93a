-- A process that answers "hello" messages and crashes on "crash".
type Greeting = {name: string}

local function main(generation: integer)
    process.registry.register("greeter")
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        if msg:topic() == "crash" then
            error("greeter generation " .. generation .. " was asked to crash")
        end
        local g: Greeting = msg:payload():data()
        process.send(msg:from(), "greeting", "hello, " .. g.name .. " (from generation " .. generation .. ")")
    end
end

return { main = main }
