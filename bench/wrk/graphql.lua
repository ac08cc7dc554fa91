-- wrk script of the benchmark: POSTs one GraphQL request body over and over, and prints the figures as one JSON
-- line (prefixed BENCH_JSON) for bench/bench.py.
--   BENCH_BODY  file holding the request body (JSON: query and variables)
--   BENCH_AUTH  value of the Authorization header (empty: none)
local path = os.getenv("BENCH_BODY")
local file = assert(io.open(path, "rb"), "cannot read BENCH_BODY " .. tostring(path))
wrk.body = file:read("*a")
file:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"latency_mean_us":%.1f,"latency_max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
