-- GET /api/user/current-user with the access-token cookie given as the
-- script's argument. The request is static (no request() function), so wrk
-- builds it once: the cheapest load wrk can make.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "GET"
wrk.path = "/api/user/current-user"

function init(args)
   wrk.headers["Cookie"] = "accessToken=" .. args[1]
end

setup = common.setup

function done(summary, latency, requests)
   common.done(summary, latency)
end
