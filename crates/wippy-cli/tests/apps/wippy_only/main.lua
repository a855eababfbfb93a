return { main = function() return 0 end }
