local io = require("io")
return { main = function()
    local function show(v, err) return tostring(v) .. "|" .. tostring(err) end
    io.print("bytes", show(io.read(3)))
    io.print("zero", show(io.read(0)))
    io.print("line", show(io.readline()))
    io.print("default", show(io.read()))
    io.print("rest", show(io.read("a")))
    io.print("eof", show(io.readline()))
    io.print("eof bytes", show(io.read(2)))
    io.print("bad", show(pcall(io.read, "x")))
end }
