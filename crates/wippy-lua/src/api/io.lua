-- The Lua half of the `io` module (terminal hosts only): blocking reads
-- over the prelude's operations. Run once per VM with the prelude's table
-- and the native that starts a read on the blocking pool.
local prelude, start = ...
local await_op, new_error = prelude.await_op, prelude.new_error

-- a line, n bytes or all input; nil, err (an error object) at the end of
-- the input or when the read fails
local function read(what)
    local v, ok = await_op(start, what)
    if ok ~= true then return nil, ok end -- the read did not start
    if v == nil then return nil, new_error("", "end of input") end
    if type(v) == "table" then return nil, new_error("Internal", v.error) end
    return v
end

local function readline()
    return read(nil)
end

-- io.read(): a line; io.read(n): up to n bytes; io.read("a"): the rest of
-- the input (Lua's "l", "*l", "a", "*a" too)
return readline, function(fmt)
    if fmt == nil or fmt == "l" or fmt == "*l" then
        return read(nil)
    elseif fmt == "a" or fmt == "*a" then
        return read("a")
    elseif type(fmt) == "number" and fmt >= 0 and fmt % 1 == 0 then
        if fmt == 0 then return "" end
        return read(fmt)
    end
    error("io.read: expected a byte count, \"l\" or \"a\", got " .. tostring(fmt), 2)
end
