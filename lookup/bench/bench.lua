-- wrk script for `make bench-lookup`: GET /certs/{email} for random addresses out of
-- BENCH_N (user000001@bench.example ...), the same paths for certgal and nginx. The
-- requests are built once per thread, so that wrk's Lua costs little per request.
local n = tonumber(os.getenv("BENCH_N") or "100000")
local threads = {}
local reqs = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   math.randomseed(os.time() * 100 + tid)
   for i = 1, n do
      reqs[i] = wrk.format("GET", string.format("/certs/user%06d@bench.example", i))
   end
end

function request()
   return reqs[math.random(1, n)]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("RESULT rps=%.0f p50_us=%d p99_us=%d requests=%d socket_errors=%d non_2xx=%d\n",
      summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
      summary.requests, e.connect + e.read + e.write + e.timeout, e.status))
end
