-- wrk script of the benchmark: POSTs GraphQL request bodies over and over, and prints the figures as one JSON
-- line (prefixed BENCH_JSON) for the harness (bench/beian_bench/load.py).
--   BENCH_BODY          file holding the request body (JSON: query and variables), sent on every request
--   BENCH_BODIES        instead: a file of request bodies, one per line. Each wrk thread takes every Nth line
--                       (N = BENCH_NTHREADS, starting at its own index) and sends them in turn, starting over
--                       after its last one (counted as "reused"), so two threads never send the same body
--   BENCH_NTHREADS      wrk's -t, for BENCH_BODIES
--   BENCH_CHECK_ERRORS  1: count the HTTP 200 answers that carry GraphQL errors (wrk then reads every body)
--   BENCH_AUTH          value of the Authorization header (empty: none)
local path = os.getenv("BENCH_BODY")
local bodies_path = os.getenv("BENCH_BODIES")
local nthreads = tonumber(os.getenv("BENCH_NTHREADS") or "1") or 1
local check_errors = os.getenv("BENCH_CHECK_ERRORS") == "1"
if path ~= nil and path ~= "" then
  local file = assert(io.open(path, "rb"), "cannot read BENCH_BODY " .. tostring(path))
  wrk.body = file:read("*a")
  file:close()
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

-- Per thread (each wrk thread runs its own copy of this script): its index, and its counters.
tid = 0
gql_errors = 0
reused = 0

local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

if bodies_path ~= nil and bodies_path ~= "" then
  local mine, position = {}, 1
  function init(args)
    local index = 0
    for line in io.lines(bodies_path) do
      if line ~= "" then
        if index % nthreads == tid then
          table.insert(mine, line)
        end
        index = index + 1
      end
    end
    assert(#mine > 0, "BENCH_BODIES " .. bodies_path .. " has no body for thread " .. tid)
  end
  function request()
    local body = mine[position]
    position = position + 1
    if position > #mine then
      position = 1
      reused = reused + 1
    end
    return wrk.format(nil, nil, nil, body)
  end
end

if check_errors then
  function response(status, headers, body)
    if status == 200 and body ~= nil and string.find(body, '"errors"', 1, true) then
      gql_errors = gql_errors + 1
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local graphql_errors, passes = 0, 0
  for _, thread in ipairs(threads) do
    graphql_errors = graphql_errors + (tonumber(thread:get("gql_errors")) or 0)
    passes = passes + (tonumber(thread:get("reused")) or 0)
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"latency_mean_us":%.1f,"latency_max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"graphql_errors":%d,"bodies_wrapped":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    graphql_errors, passes))
end
