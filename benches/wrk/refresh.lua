-- POST /api/auth/refresh, each connection following its own cookie chain.
--
-- Run with as many threads as connections (wrk -tN -cN): a wrk thread then
-- drives exactly one connection, strictly one request after the other
-- (request -> response -> request), so the chain of one thread is a single
-- browser tab refreshing in a loop: no token is ever presented twice, and
-- any reuse detection would be the service's fault.
--
-- The starting refresh tokens (one login each) are the lines of the file
-- named by BENCH_REFRESH_TOKENS; thread i takes line i.
local common = dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local tokens = {}
for line in io.lines(os.getenv("BENCH_REFRESH_TOKENS")) do
   if line ~= "" then table.insert(tokens, line) end
end
local next_token = 0

function setup(thread)
   next_token = next_token + 1
   assert(tokens[next_token], "fewer refresh tokens than wrk threads")
   thread:set("token", tokens[next_token])
   common.setup(thread)
end

local origin = os.getenv("BENCH_ORIGIN")
failed = 0   -- non-200 answers
broken = 0   -- 200 without a new refresh cookie: the chain cannot go on

function request()
   return wrk.format("POST", "/api/auth/refresh", {
      ["Cookie"] = "refreshToken=" .. token,
      ["Origin"] = origin,
   })
end

function response(status, headers, body)
   if status ~= 200 then
      failed = failed + 1
      return
   end
   -- wrk keeps the last header of a name; the service sets the access
   -- cookie first and the refresh cookie last.
   local set_cookie = headers["set-cookie"] or headers["Set-Cookie"] or ""
   local value = set_cookie:match("^refreshToken=([^;]+)")
   if value then
      token = value
   else
      broken = broken + 1
   end
end

function done(summary, latency, requests)
   common.done(summary, latency, {
      string.format("failed=%d", common.sum("failed")),
      string.format("broken=%d", common.sum("broken")),
   })
end
