-- One job of the pool: its square, and the node that computed it.
local function main(n)
    return { n = n, square = n * n, node = string.match(process.pid(), "^{([%w_-]+)%.") }
end

return { main = main }
