-- wrk script: POST /v1/sessions (a login: one Argon2id verification each) for the users
-- login1..loginN@example.com, N from LOGIN_USERS, all with the benchmark's password; the
-- requests go round the users, each thread starting at its own place. These users serve the
-- logins alone: a login starts a new session and ends the user's previous one. One line
-- "RESULT ..." at the end gives successful logins/s, p50 and p99 latency and the failures (a
-- 503 when the hashing threads are all taken counts as one; the first of each thread on stderr).
local counter = 0
local users = tonumber(os.getenv("LOGIN_USERS"))
local next_user = 0
local reported = false

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  next_user = (id * 7919) % users
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  next_user = next_user % users + 1
  return wrk.format(nil, "/v1/sessions", nil,
    '{"email":"login' .. next_user .. '@example.com","password":"benchmark passphrase"}')
end

function response(status, headers, body)
  if status ~= 200 and not reported then
    reported = true
    io.stderr:write("login.lua: ", status, " ", body, "\n")
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
