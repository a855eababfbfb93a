return { main = function()
    print("worker up")
    process.events():receive()
end }
