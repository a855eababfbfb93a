local security = require("security")
return { main = function()
    print("running as " .. security.actor():id())
    local pid, err = process.spawn("app:svc", "app:users")
    print("spawn: " .. tostring(pid) .. " " .. tostring(err))
    local events = process.events()
    while events:receive().kind ~= process.event.CANCEL do end
end }
