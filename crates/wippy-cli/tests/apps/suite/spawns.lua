local function main()
    local e = process.spawn_linked("app.tests:echo", "app.tests:workers")
    process.send(e, "ping", "hello")
    local msg = process.inbox():receive()
    process.terminate(e)
    if msg:topic() ~= "ping" or msg:payload():data() ~= "hello" then
        return false, "bad echo"
    end
    return true
end
return { main = main }
