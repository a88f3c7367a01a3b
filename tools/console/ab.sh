#!/usr/bin/env bash
# The console's user pages (a user with EVENTS events: the timeline, and as of position 100)
# timed with two builds of authd on one seeded data directory, alternating ROUNDS times so
# that the host's noise falls on both (tools/console/bench.py --only-user).
#
#   tools/console/ab.sh BEFORE_BIN AFTER_BIN [USERS] [EVENTS] [RUNS] [ROUNDS]
#   (default 1000000 10000 20 3; each BIN a directory holding authd and authctl)
set -euo pipefail
cd "$(dirname "$0")/../.."
before="$1"
after="$2"
users="${3:-1000000}"
events="${4:-10000}"
runs="${5:-20}"
rounds="${6:-3}"
work="$(mktemp -d)"
authd=""
stop() {
    if [ -n "$authd" ]; then kill "$authd" 2>/dev/null || true; wait "$authd" 2>/dev/null || true; fi
    authd=""
}
trap 'stop; rm -rf "$work"' EXIT
password="a console benchmark passphrase"
"$after/authctl" --data "$work/data" create-admin --email admin@example.com <<<"$password" >/dev/null
"$after/authctl" --data "$work/data" seed --users "$users" --events $((users * 3)) --force >/dev/null
# Starts BIN's authd and waits until it listens and its search index is built (the build at
# start would otherwise share the cores with the pages timed).
start() {
    : >"$work/authd.log"
    "$1/authd" --data "$work/data" --port 0 --rate-limit 100000 >"$work/authd.log" 2>&1 &
    authd=$!
    port=""
    for _ in $(seq 6000); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/authd.log" | head -1)
        [ -n "$port" ] && grep -q "console search index built" "$work/authd.log" && break
        sleep 0.1
    done
    [ -n "$port" ] || { cat "$work/authd.log" >&2; exit 1; }
}
login="admin@example.com:$password"
start "$after"
user=$(python3 tools/console/bench.py --url "http://127.0.0.1:$port" --admin "$login" --events "$events" \
    --runs 1 --only-user | sed -n 's/^gave the user \([0-9a-f-]*\) .*/\1/p')
stop
for round in $(seq "$rounds"); do
    for side in before after; do
        bin="$before"
        [ "$side" = after ] && bin="$after"
        start "$bin"
        echo "round $round, $side ($bin):"
        python3 tools/console/bench.py --url "http://127.0.0.1:$port" --admin "$login" --user "$user" \
            --events "$events" --runs "$runs" --only-user
        stop
    done
done
