local function says_false()
    return false, "expected failure message"
end

local function helper()
    error("boom")
end

local function raises()
    helper()
    return true
end

local function process_false()
    return false, "process said no"
end

return { says_false = says_false, raises = raises, process_false = process_false }
