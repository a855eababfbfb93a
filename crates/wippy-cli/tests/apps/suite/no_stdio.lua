-- Tests run on the runner host: every module but io.
local function main()
    local got_io = pcall(require, "io")
    if got_io then return false, "io was granted to a test" end
    local ok = pcall(require, "time")
    if not ok then return false, "time was refused" end
    return true
end
return { main = main }
