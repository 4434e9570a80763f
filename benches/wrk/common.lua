-- Shared by the wrk scripts of scripts/bench.sh: per-thread status counters
-- and one machine-readable summary line.
--
-- Each wrk thread has its own Lua state; setup() (main state) keeps the
-- thread handles so done() can read every thread's counters.

local common = {}
common.threads = {}

function common.setup(thread)
   table.insert(common.threads, thread)
end

-- Sums a global counter over every thread.
function common.sum(name)
   local total = 0
   for _, thread in ipairs(common.threads) do
      total = total + (tonumber(thread:get(name)) or 0)
   end
   return total
end

-- One line: "BENCH key=value ...", read by scripts/bench.sh. Latencies in
-- microseconds; rps over wrk's own measured duration.
function common.done(summary, latency, extra)
   local e = summary.errors
   local seconds = summary.duration / 1e6
   local fields = {
      string.format("requests=%d", summary.requests),
      string.format("seconds=%.3f", seconds),
      string.format("rps=%.1f", summary.requests / seconds),
      string.format("p50_us=%d", latency:percentile(50)),
      string.format("p99_us=%d", latency:percentile(99)),
      string.format("max_us=%d", latency.max),
      string.format("non2xx=%d", e.status),
      string.format("socket_errors=%d", e.connect + e.read + e.write + e.timeout),
   }
   for _, kv in ipairs(extra or {}) do
      table.insert(fields, kv)
   end
   io.write("BENCH " .. table.concat(fields, " ") .. "\n")
end

return common
