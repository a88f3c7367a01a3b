-- wrk script: GET /v1/users/{id}, each user reading themselves. Users come from the file named
-- by USER_FILE, one "ID ACCESS_TOKEN" a line; the requests go round the users, each thread starting
-- at its own place. One line "RESULT ..." at the end gives successful requests/s, p50 and p99
-- latency, and the failures (the first of each thread on stderr). With PACE_MS above 0, each
-- connection waits that many milliseconds before each request: about connections x 1000 /
-- (PACE_MS + latency) requests a second, for latency at a load below the server's limit (wrk
-- times a request from its sending, so the wait is not in the latency).
-- The shared report (tools/wrk/result.lua), found beside this script's folder.
local result = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../wrk/result.lua")
local users = {}
local next_user = 1
local pace = tonumber(os.getenv("PACE_MS") or "")
if pace and pace > 0 then
  function delay() return pace end
end

setup = result.number

function init(args)
  for line in io.lines(os.getenv("USER_FILE")) do
    local user, token = line:match("^(%S+) (%S+)$")
    table.insert(users, { path = "/v1/users/" .. user, auth = "Bearer " .. token })
  end
  next_user = (id - 1) * 37 % #users + 1
end

function request()
  local user = users[next_user]
  next_user = next_user % #users + 1
  return wrk.format("GET", user.path, { ["Authorization"] = user.auth }, nil)
end

function response(status, headers, body)
  result.note("read.lua", 200, status, body)
end

function done(summary, latency, requests)
  result.write(summary, latency)
end
