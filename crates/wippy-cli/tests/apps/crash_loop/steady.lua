local time = require("time")
return { main = function()
    local events = process.events()
    time.sleep("1500ms")
    print("steady still here")
    while events:receive().kind ~= process.event.CANCEL do end
end }
