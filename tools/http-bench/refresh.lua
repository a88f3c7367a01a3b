-- wrk script: POST /v1/sessions/refresh, each request with a refresh token that is not in flight.
-- Tokens come from the file named by TOKENS (one a line); each thread takes every n-th line,
-- and puts the token a response returns back in its pool.
local pool = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  local threads = tonumber(os.getenv("THREADS") or "2")
  local index = 0
  for line in io.lines(os.getenv("TOKENS")) do
    if index % threads == (id - 1) then table.insert(pool, line) end
    index = index + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local token = table.remove(pool, 1) or "exhausted"
  return wrk.format(nil, "/v1/sessions/refresh", nil, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(pool, token) end
end
