#!/usr/bin/env bash
# The system calls authd makes a request, by call, for reads by id and durable refresh
# rotations: authd is traced with `strace -f -c` (every thread) only around REQUESTS reads
# (GET /v1/users/{id}, each user reading themselves), then around REQUESTS rotations
# (POST /v1/sessions/refresh), each sent by tools/peer-bench/requests.py over CONNECTIONS
# kept-alive connections. A count, not a time: the calls a request makes do not depend on the
# host's speed, though those a commit makes (the log writer's writes and syncs) are shared by
# the rotations of one commit, so they fall as commits grow; strace slows authd down, which
# changes how many rotations a commit holds. Compare builds at the same CONNECTIONS.
#
#   tools/peer-bench/syscalls.sh AUTHD [REQUESTS [CONNECTIONS]]    (default 2000 requests, 8 connections)
#
# Prints, for each kind, the calls a request in all and each call's count a request.
# Installs strace when missing. Stops the authd it started when it ends, also on Ctrl-C.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
root="$(pwd)"
[ $# -ge 1 ] || {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
}
authd="$(realpath "$1")"
requests="${2:-2000}"
connections="${3:-8}"
users=64
sessions=192
((connections <= users)) || {
    echo "syscalls.sh: at most $users connections" >&2
    exit 64
}
if ! command -v strace >/dev/null; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends strace >/dev/null
fi

umask 077 # the work directory holds a key-encryption key and live tokens
work="$(mktemp -d)"
# shellcheck source=tools/peer-bench/authd.sh
. "$root/tools/peer-bench/authd.sh"
cleanup() {
    [ -f "$work/strace.pid" ] && kill "$(cat "$work/strace.pid")" 2>/dev/null || true
    stop authd
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== $authd, $requests requests a kind over $connections connections"
make_kek
port="$(start_authd authd "$authd")"
set_up_users authd "$port"
pid="$(cat "$work/authd.pid")"
for kind in read rotate; do
    file="$work/authd.users"
    [ "$kind" = rotate ] && file="$work/authd.tokens"
    python3 tools/peer-bench/requests.py "$kind" "$port" "$file" 200 "$connections" >/dev/null
    strace -f -c -p "$pid" -o "$work/$kind.strace" 2>"$work/strace.log" &
    echo $! >"$work/strace.pid"
    # strace names each thread it attached to; all of them, or it would miss calls.
    threads="$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 | wc -l)"
    for _ in $(seq 100); do
        (($(grep -c 'attached' "$work/strace.log") >= threads)) && break
        sleep 0.1
    done
    result="$(python3 tools/peer-bench/requests.py "$kind" "$port" "$file" "$requests" "$connections")"
    kill -INT "$(cat "$work/strace.pid")"
    wait "$(cat "$work/strace.pid")" || true
    rm -f "$work/strace.pid"
    echo "-- $kind: $result"
    # strace -c: "% time, seconds, usecs/call, calls, errors, syscall"; the last column names it.
    awk -v n="$requests" '
        $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { calls[$NF] = $4 }
        $NF == "total" { total = $4 + 0 }
        END {
            printf "   %6.2f calls a request in all\n", total / n
            for (name in calls) if (calls[name] / n >= 0.01) printf "   %6.2f %s\n", calls[name] / n, name
        }' "$work/$kind.strace" | sort -k1,1nr
done
