local function main()
    local x = 
end
return { main = main }
