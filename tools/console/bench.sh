#!/usr/bin/env bash
# The admin console's page times: a search over USERS seeded users (authctl seed) and the
# page of one user with EVENTS events of their own (profile changes through the API), each
# fetched RUNS times over one kept connection after a signed-in console session; prints the
# median, the 95th percentile and the largest, in ms, per page (tools/console/bench.py), and
# the search index's build time at start from authd's log.
#
#   tools/console/bench.sh [USERS] [EVENTS] [RUNS]   (default 1000000 10000 50; release build)
#   CONSOLE_BENCH_BIN=.build/debug tools/console/bench.sh ...   (those binaries instead)
set -euo pipefail
cd "$(dirname "$0")/../.."
users="${1:-1000000}"
events="${2:-10000}"
runs="${3:-50}"
bin="${CONSOLE_BENCH_BIN:-}"
if [ -z "$bin" ]; then
    swift build -c release --product authd >/dev/null
    swift build -c release --product authctl >/dev/null
    bin=.build/release
fi
work="$(mktemp -d)"
authd=""
trap 'if [ -n "$authd" ]; then kill "$authd" 2>/dev/null || true; wait "$authd" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
password="a console benchmark passphrase"
"$bin/authctl" --data "$work/data" create-admin --email admin@example.com <<<"$password" >/dev/null
start=$(date +%s)
"$bin/authctl" --data "$work/data" seed --users "$users" --events $((users * 3)) --force >"$work/seed.out"
echo "seeded $users users in $(($(date +%s) - start)) s"
"$bin/authd" --data "$work/data" --port 0 --rate-limit 100000 >"$work/authd.log" 2>&1 &
authd=$!
port=""
for _ in $(seq 6000); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/authd.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$work/authd.log" >&2; exit 1; }
python3 tools/console/bench.py --url "http://127.0.0.1:$port" --admin "admin@example.com:$password" \
    --events "$events" --runs "$runs"
# The search index's build at start, as authd logged it (users and ms).
sed -n 's/.*info authd: \(.*\) \[authd\] console search index built.*/search index built at start: \1/p' "$work/authd.log"
