-- wrk script: POST /v1/sessions/refresh spread over the nodes of a cluster. Thread N sends
-- every request of its connections to port N of PORTS (space-separated; -t a multiple of
-- their count spreads the threads evenly). Tokens come from the file named by TOKENS (one a
-- line); thread N takes every THREADS-th line and puts the token a response returns back in
-- its pool, so no token is sent twice. At the end the pools go back to TOKENS (tokens in flight
-- when wrk stopped are lost: keep several times more sessions than connections) and one line
-- "RESULT ..." gives successful requests/s, p50 and p99 latency, and the failures (the first of
-- each thread on stderr).
-- The shared report (tools/wrk/result.lua), found beside this script's folder.
local result = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "../wrk/result.lua")
pool = {} -- global: done() reads it from each thread
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  local ports = {}
  for port in os.getenv("PORTS"):gmatch("%d+") do table.insert(ports, port) end
  local port = ports[(counter - 1) % #ports + 1]
  thread.addr = wrk.lookup("127.0.0.1", port)[1]
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local count = tonumber(os.getenv("THREADS"))
  local index = 0
  for line in io.lines(os.getenv("TOKENS")) do
    if index % count == (id - 1) then table.insert(pool, line) end
    index = index + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local token = table.remove(pool, 1) or "exhausted"
  return wrk.format(nil, "/v1/sessions/refresh", nil, '{"refresh_token":"' .. token .. '"}')
end

local reported = false
function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then
    table.insert(pool, token)
  elseif not reported then
    reported = true
    io.stderr:write("refresh.lua: ", status, " ", body, "\n")
  end
end

function done(summary, latency, requests)
  local file = io.open(os.getenv("TOKENS"), "w")
  for _, thread in ipairs(threads) do
    for _, token in ipairs(thread:get("pool")) do file:write(token, "\n") end
  end
  file:close()
  result.write(summary, latency)
end
