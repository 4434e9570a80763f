-- POST /api/auth/login with the account in BENCH_LOGIN_EMAIL and
-- BENCH_LOGIN_PASSWORD. Counts 200s, 503s (shed by the bcrypt pool) and
-- anything else separately.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/api/auth/login"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Origin"] = os.getenv("BENCH_ORIGIN")
wrk.body = string.format('{"email":"%s","password":"%s"}',
   os.getenv("BENCH_LOGIN_EMAIL"), os.getenv("BENCH_LOGIN_PASSWORD"))

setup = common.setup

ok = 0
shed = 0
other = 0

function response(status, headers, body)
   if status == 200 then
      ok = ok + 1
   elseif status == 503 then
      shed = shed + 1
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local ok_total = common.sum("ok")
   common.done(summary, latency, {
      string.format("ok=%d", ok_total),
      string.format("ok_rps=%.2f", ok_total / (summary.duration / 1e6)),
      string.format("shed=%d", common.sum("shed")),
      string.format("other=%d", common.sum("other")),
   })
end
