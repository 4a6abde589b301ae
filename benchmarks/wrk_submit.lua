-- wrk script for benchmarks/aggregation_ingest.py: POST /submit with a distinct report each time.
--
--   wrk -t1 -c64 -d10s -s benchmarks/wrk_submit.lua http://127.0.0.1:8080 -- bodies.jsonl 1
--
-- bodies.jsonl holds one JSON report per line (each a new installation's); every wrk thread
-- takes every n-th line, so no report is sent twice while the file lasts. The last line
-- printed is one JSON object: answers by status, latency quantiles (ms), requests, seconds.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local count = tonumber(args[2]) or 1  -- wrk's -t, passed after the file
  bodies, sent, created, other = {}, 0, 0, 0
  local line_number = 0
  for line in io.lines(args[1]) do
    if line_number % count == id then
      bodies[#bodies + 1] = line
    end
    line_number = line_number + 1
  end
end

function request()
  sent = sent + 1
  local body = bodies[(sent - 1) % #bodies + 1]  -- wraps (duplicates: 200) only past the file
  return wrk.format("POST", "/submit", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local ok, not_created = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("created")
    not_created = not_created + thread:get("other")
  end
  local errors = summary.errors
  io.write(string.format(
    '{"created": %d, "other": %d, "socket_errors": %d, "requests": %d, "seconds": %.3f, '
      .. '"p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    ok, not_created, errors.connect + errors.read + errors.write + errors.timeout,
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
