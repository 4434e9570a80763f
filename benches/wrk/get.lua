-- GET of the path in wrk's URL, with no cookie and no body: the service's
-- /health/live and the reference server's /hello. The request is static, as
-- in current_user.lua: wrk builds it once.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

setup = common.setup

function done(summary, latency, requests)
   common.done(summary, latency)
end
