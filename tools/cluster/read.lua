-- wrk script: GET /v1/users/{id}, each user reading themselves. Users come from the file named
-- by USER_FILE, one "ID ACCESS_TOKEN" a line; the requests go round the users, each thread starting
-- at its own place. One line "RESULT ..." at the end gives successful requests/s, p50 and p99
-- latency, and the failures (the first of each thread on stderr).
local users = {}
local next_user = 1
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

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

-- The first failure of each thread goes to stderr, so that a failing run says why.
local reported = false
function response(status, headers, body)
  if status >= 300 and not reported then
    reported = true
    io.stderr:write("read.lua: ", status, " ", body, "\n")
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
