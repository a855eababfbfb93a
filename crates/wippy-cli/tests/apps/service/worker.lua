local logger = require("logger")
return { main = function()
    local events = process.events()
    print("worker up")
    logger:warn("worker warns")
    while true do
        local e = events:receive()
        if e.kind == process.event.CANCEL then
            print("worker got cancel")
            return "cancelled"
        end
    end
end }
