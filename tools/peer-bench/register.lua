-- wrk script: POST /v1/users (a registration: one Argon2id hash and a durable append with the
-- email's uniqueness claim), each with a new address: RUN (a text unique to this wrk run),
-- the thread and a counter. One line "RESULT ..." at the end gives successful registrations/s
-- (201), p50 and p99 latency and the failures (a 503 when the hashing threads are all taken
-- counts as one; the first of each thread on stderr).
-- The shared report (tools/wrk/result.lua), found beside this script's folder.
local result = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../wrk/result.lua")
local sent = 0

setup = result.number

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
  result.note("register.lua", 201, status, body)
end

function done(summary, latency, requests)
  result.write(summary, latency)
end
