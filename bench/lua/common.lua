-- Shared by every wrk script in bench/lua: prints one machine-readable line
--   BENCHJSON {...}
-- that bench/src/wrk.ts parses. Latencies are in microseconds (wrk's unit).
-- A script may define extra_fields(threads) returning a JSON fragment
-- (starting with a comma) built from per-thread counters.

threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local e = summary.errors
  local extra = ""
  if extra_fields ~= nil then
    extra = extra_fields(threads)
  end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,' ..
    '"err_timeout":%d%s}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, extra))
end
