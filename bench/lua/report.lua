-- Appended by bench/wrk.py to every scenario script (and used alone for a
-- plain GET). Counts every response by status, since wrk's own summary only
-- counts statuses >= 400 and lumps them with nothing else, and prints the
-- figures bench/wrk.py reads as one JSON line. Latencies are microseconds.
local threads = {}
statuses = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts, repeated = {}, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
    repeated = repeated + (thread:get("repeated") or 0)
  end
  local parts = {}
  for status, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%d": %d', status, n)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"statuses": {%s}, "errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "repeated": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    table.concat(parts, ", "), errors.connect, errors.read, errors.write, errors.timeout, repeated))
end
