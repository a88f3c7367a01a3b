-- What the wrk scripts of tools/ share (loaded with dofile from each of them): a report of a
-- run's first failure, and the one "RESULT ..." line the benchmark scripts read.
local result = {}

-- A `setup` for scripts whose threads need only a number: each thread's global `id`, from 1.
local threads = 0
function result.number(thread)
  threads = threads + 1
  thread:set("id", threads)
end

-- Writes the first answer a thread got with another status than `expected` to stderr, once.
local reported = false
function result.note(script, expected, status, body)
  if status ~= expected and not reported then
    reported = true
    io.stderr:write(script, ": ", status, " ", body, "\n")
  end
end

-- The line: successful requests a second, p50 and p99 latency in ms, requests, answers that
-- were not 2xx or 3xx, and socket errors.
function result.write(summary, latency)
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT ok_per_s=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d socket_errors=%d\n",
    (summary.requests - errors.status) / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end

return result
