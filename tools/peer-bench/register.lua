-- wrk script: POST /v1/users (a registration: one Argon2id hash and a durable append with the
-- email's uniqueness claim), each with a new address: RUN (a text unique to this wrk run),
-- the thread and a counter. One line "RESULT ..." at the end gives successful registrations/s
-- (201), p50 and p99 latency and the failures (a 503 when the hashing threads are all taken
-- counts as one; the first of each thread on stderr).
local counter = 0
local sent = 0
local reported = false

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  local email = "new-" .. os.getenv("RUN") .. "-" .. id .. "-" .. sent .. "@example.com"
  return wrk.format(nil, "/v1/users", nil,
    '{"email":"' .. email .. '","password":"benchmark passphrase","first_name":"N","last_name":"M"}')
end

function response(status, headers, body)
  if status ~= 201 and not reported then
    reported = true
    io.stderr:write("register.lua: ", status, " ", body, "\n")
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT ok_per_s=%.1f p50_ms=%.2f p99_ms=%.2f requests=%d non2xx=%d socket_errors=%d\n",
    (summary.requests - errors.status) / seconds, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
