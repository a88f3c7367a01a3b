#!/usr/bin/env bash
# Stops a cluster that tools/cluster/start.sh started in DIR and removes DIR.
#
#   tools/cluster/stop.sh DIR
#
# Each node gets SIGTERM (requests in flight finish, then its log closes) and up to 30 s to end,
# then SIGKILL; then the throwaway PostgreSQL server stops. Exit 0 also when DIR is gone already.
set -euo pipefail

dir="${1:?usage: stop.sh DIR}"
[ -d "$dir" ] || exit 0
here="$(cd "$(dirname "$0")" && pwd)"

# A node started by an earlier command is not this one's child: once ended it may stay a zombie
# until init reaps it, so a zombie counts as ended.
running() {
    local state
    state="$(ps -o stat= -p "$1")" && [ "${state:0:1}" != Z ]
}

pids=()
for file in "$dir"/node-*/pid; do
    [ -f "$file" ] || continue
    pid="$(cat "$file")"
    if running "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
    fi
done
for pid in ${pids[@]+"${pids[@]}"}; do
    for _ in $(seq 300); do
        running "$pid" || break
        sleep 0.1
    done
    if running "$pid"; then
        echo "stop.sh: authd $pid did not end within 30 s of SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
done
[ -d "$dir/postgres" ] && "$here/../postgres/stop-throwaway.sh" "$dir/postgres"
rm -rf "$dir"
