return { main = function() error("crash on purpose") end }
