return { main = function() return 4 end }
