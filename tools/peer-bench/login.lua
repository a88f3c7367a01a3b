-- wrk script: POST /v1/sessions (a login: one Argon2id verification each) for the users
-- login1..loginN@example.com, N from LOGIN_USERS, all with the benchmark's password; the
-- requests go round the users, each thread starting at its own place. These users serve the
-- logins alone: a login starts a new session and ends the user's previous one. One line
-- "RESULT ..." at the end gives successful logins/s, p50 and p99 latency and the failures (a
-- 503 when the hashing threads are all taken counts as one; the first of each thread on stderr).
-- The shared report (tools/wrk/result.lua), found beside this script's folder.
local result = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../wrk/result.lua")
local users = tonumber(os.getenv("LOGIN_USERS"))
local next_user = 0

setup = result.number

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
  result.note("login.lua", 200, status, body)
end

function done(summary, latency, requests)
  result.write(summary, latency)
end
