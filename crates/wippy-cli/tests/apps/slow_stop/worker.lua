local time = require("time")
return { main = function()
    local events = process.events()
    print("worker up")
    while events:receive().kind ~= process.event.CANCEL do end
    print("worker cleaning up")
    time.sleep("3s")
    print("worker cleaned up")
    return "clean"
end }
