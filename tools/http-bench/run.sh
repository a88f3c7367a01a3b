#!/usr/bin/env bash
# HTTP benchmark with wrk on loopback: GET /v1/users/{id}, POST /v1/sessions/refresh (durable,
# group-committed) and POST /v1/sessions (KDF-bound). The load generator shares the machine's
# cores with authd. Usage: tools/http-bench/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-10}"
swift build -c release --product authd >/dev/null
swift build -c release --product authctl >/dev/null
bin=.build/release
umask 077 # the data directory holds live tokens
data=$(mktemp -d)
port=18282
trap 'kill $AUTHD 2>/dev/null || true; rm -rf "$data"' EXIT
$bin/authctl --data "$data/data" create-admin --email admin@example.com <<< "an admin passphrase" >/dev/null
$bin/authd --data "$data/data" --port $port --rate-limit 100000000 > "$data/authd.log" 2>&1 & AUTHD=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
json() { sed "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/"; echo; }
admin=$(curl -sf http://127.0.0.1:$port/v1/sessions -H 'content-type: application/json' \
  -d '{"email":"admin@example.com","password":"an admin passphrase"}' | json access_token)
: > "$data/tokens"
for n in $(seq 256); do
  id=$(curl -sf http://127.0.0.1:$port/v1/users -H 'content-type: application/json' \
    -d "{\"email\":\"bench$n@example.com\",\"password\":\"benchmark passphrase\",\"first_name\":\"B$n\",\"last_name\":\"M\"}" | json id)
  curl -sf http://127.0.0.1:$port/v1/sessions -H 'content-type: application/json' \
    -d "{\"email\":\"bench$n@example.com\",\"password\":\"benchmark passphrase\"}" | json refresh_token >> "$data/tokens"
done
echo "== GET /v1/users/{id} (ADMIN token), 2 threads, 64 connections"
wrk -t2 -c64 -d"${seconds}s" --latency -H "Authorization: Bearer $admin" "http://127.0.0.1:$port/v1/users/$id"
echo "== POST /v1/sessions/refresh, 2 threads, 128 connections, 256 sessions"
TOKENS="$data/tokens" THREADS=2 wrk -t2 -c128 -d"${seconds}s" --latency -s tools/http-bench/refresh.lua "http://127.0.0.1:$port"
echo "== POST /v1/sessions (login), 2 threads, 16 connections"
cat > "$data/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench1@example.com","password":"benchmark passphrase"}'
LUA
wrk -t2 -c16 -d"${seconds}s" --latency -s "$data/login.lua" "http://127.0.0.1:$port/v1/sessions"
curl -sf http://127.0.0.1:$port/metrics | grep -E '^authlog_(http_requests_total\{method="POST",route="/v1/sessions/refresh"|commits_total|appends_total)'
