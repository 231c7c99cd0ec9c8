math.randomseed(42)
local kinds, values = {}, {}
for line in io.lines("$run/keys") do
    local k, v = line:match("^(%a+)\t(%w+)$")
    kinds[#kinds + 1] = k; values[#values + 1] = v
end
request = function()
    local i = math.random(1, #values)
    return wrk.format("GET", "/v1/eligibility?kind=" .. kinds[i]
        .. "&amount=150000&terminal=till-1&card=" .. values[i],
        {["Authorization"] = "Bearer $partner.bench-secret-$partner"})
end
