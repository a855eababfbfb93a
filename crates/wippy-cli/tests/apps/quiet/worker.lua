local logger = require("logger")
return { main = function()
    local events = process.events()
    while events:receive().kind ~= process.event.CANCEL do end
    logger:warn("worker warns when stopped")
end }
