local io = require("io")
local logger = require("logger")
return { main = function()
    logger:warn("entry warns while it runs")
    io.print("entry done")
    return 0
end }
