#!/usr/bin/env bash
# Where a durable rotation's CPU goes, thread by thread, and how well group commit batches:
# two authd builds (or one, twice) driven in turn by the peer benchmark's rotation client
# (wrk -t2 -cCONNECTIONS, tools/cluster/refresh.lua), the order reversed every other round.
# CONNECTIONS is an even number, 64 by default (the peer benchmark's).
#
#   tools/peer-bench/commit-probe.sh AUTHD_A AUTHD_B [ROUNDS [SECONDS]]    (default 4 rounds of 8 s)
#
# Per round and build it prints the rotations a second, authd's CPU per rotation (user +
# system, from /proc/PID/stat), the appends per commit and commits a second (from authd's
# /metrics), then each busy thread's CPU per rotation and per commit, user and system apart,
# its context switches per rotation, and the time it waited for a core while ready to run, per
# rotation (from /proc/PID/task/*/stat, status and schedstat; the log's
# writer thread is `log-writer`, NIO's event loops `NIO-SGLTN-…`, Swift's concurrency pool
# `…default-qos`), and what the log writer wrote a commit: bytes and write calls (LMDB writes
# each dirty page, or each run of adjacent ones, with a call of its own; from the thread's
# /proc io file), and what the disk holding the work directory (and the data directories in
# it) did a commit: write requests, cache flushes, the share of the time it had requests in
# flight and their mean wait, and the bytes written (the block device's stat file; the whole disk's, so nothing else
# should be writing to it; a wrapper that moves a data directory elsewhere is not seen there),
# also per append and per second.
# AUTHD_A and AUTHD_B are release
# builds (or scripts that exec one: a wrapper can set an environment switch for an
# experiment). Set up as tools/peer-bench/authd.sh sets up the peer benchmark's authd: 320
# users, or CONNECTIONS × (ROUNDS + 1) when that is more, each signed in once, every limit
# out of the way. Everything started is stopped at the end, also on Ctrl-C or an error.
set -euo pipefail
shopt -s inherit_errexit
[ $# -ge 2 ] || {
    sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'
    exit 64
}
binary_a="$(realpath "$1")"
binary_b="$(realpath "$2")"
rounds="${3:-4}"
duration="${4:-8}"
connections="${CONNECTIONS:-64}"
[[ "$connections" =~ ^[1-9][0-9]*$ ]] && ((connections % 2 == 0)) || {
    echo "commit-probe: CONNECTIONS must be an even number above 0" >&2
    exit 64
}
cd "$(dirname "$0")/../.."
root="$(pwd)"
umask 077 # the work directory holds a key-encryption key and live tokens
work="$(mktemp -d)"
users=64
# Each round's run leaves up to one refresh token a connection in flight unused: enough
# sessions for all.
sessions=$((320 > connections * (rounds + 1) ? 320 : connections * (rounds + 1)))
cleanup() {
    local name pid
    for name in a b; do
        [ -f "$work/$name.pid" ] || continue
        pid="$(cat "$work/$name.pid")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# shellcheck source=tools/peer-bench/authd.sh
. "$root/tools/peer-bench/authd.sh"
command -v wrk >/dev/null || {
    echo "commit-probe: wrk is missing (Debian package wrk)" >&2
    exit 1
}

make_kek
port_a="$(start_authd a "$binary_a")"
port_b="$(start_authd b "$binary_b")"
set_up_users a "$port_a"
set_up_users b "$port_b"
echo "== a: $binary_a (port $port_a); b: $binary_b (port $port_b); $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"

metric() { # PORT NAME
    curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'
}
# A process's or thread's user and system clock ticks: fields 14 and 15 of its stat, counted
# after the name's closing parenthesis (a name may hold spaces).
ticks() { # STAT_FILE
    sed 's/.*) //' "$1" | awk '{print $12, $13}'
}
# One line a thread: "TID:NAME USER SYSTEM SWITCHES WAITED": clock ticks, the times it gave up
# its core or was made to (voluntary and involuntary context switches), then the microseconds
# it spent ready to run but waiting for a core (the second field of its schedstat, in ns; 0
# where the kernel keeps no schedstat). A thread that ends while it is read is left out.
threads() { # PID
    local task
    for task in /proc/"$1"/task/*; do
        echo "${task##*/}:$(tr ' ' '_' <"$task/comm") $(ticks "$task/stat")" \
            "$(awk '/_ctxt_switches:/ {n += $2} END {print n}' "$task/status")" \
            "$({ awk '{printf "%.0f", $2 / 1000}' "$task/schedstat" || echo 0; } 2>/dev/null)"
    done | awk 'NF == 5' | sort
}
# The log writer's own writes, from its thread's io file: "WCHAR SYSCW" (bytes handed to
# write calls, write calls); nothing when authd has no `log-writer` thread (a node on the
# PostgreSQL log). Only that thread writes the log. (The file's write_bytes is no measure of
# them: Linux counts a whole large folio each time one of its pages is dirtied.)
writer_io() { # PID
    local task
    task="$(grep -l '^log-writer$' /proc/"$1"/task/*/comm 2>/dev/null | head -1 || true)"
    [ -n "$task" ] || return 0
    awk '/^(wchar|syscw):/ {printf "%s ", $2} END {print ""}' "${task%/comm}/io"
}
# The block device holding the work directory (tools/peer-bench/disk.sh).
# shellcheck source=tools/peer-bench/disk.sh
. "$root/tools/peer-bench/disk.sh"
disk_stat="$(block_stat "$work")"
# "WRITES WRITE_MS BUSY_MS FLUSHES SECTORS": fields 5, 8, 10, 16 and 7 of the stat file
# (flushes from Linux 5.5 on; 0 before; sectors of 512 bytes written).
disk() {
    [ -n "$disk_stat" ] || return 0
    awk '{print $5, $8, $10, (NF >= 16 ? $16 : 0), $7}' "$disk_stat"
}
measure() { # NAME PORT
    local pid commits_before appends_before ticks_before line ok commits appends ticks io_before io_after
    local disk_before disk_after
    pid="$(cat "$work/$1.pid")"
    io_before="$(writer_io "$pid")"
    disk_before="$(disk)"
    commits_before="$(metric "$2" authlog_group_commit_batch_appends_count)"
    appends_before="$(metric "$2" authlog_group_commit_batch_appends_sum)"
    ticks_before="$(ticks "/proc/$pid/stat" | awk '{print $1 + $2}')"
    threads "$pid" >"$work/threads.before"
    line="$(env PORTS="$2" THREADS=2 TOKENS="$work/$1.tokens" wrk -t2 -c"$connections" -d"${duration}s" \
        -s "$root/tools/cluster/refresh.lua" "http://127.0.0.1:$2" | grep '^RESULT')"
    threads "$pid" >"$work/threads.after"
    io_after="$(writer_io "$pid")"
    disk_after="$(disk)"
    ticks="$(($(ticks "/proc/$pid/stat" | awk '{print $1 + $2}') - ticks_before))"
    commits="$(($(metric "$2" authlog_group_commit_batch_appends_count) - commits_before))"
    appends="$(($(metric "$2" authlog_group_commit_batch_appends_sum) - appends_before))"
    ok="$(sed -n 's/.* requests=\([0-9]*\) non2xx=\([0-9]*\).*/\1 \2/p' <<<"$line" | awk '{print $1 - $2}')"
    awk -v name="$1" -v ok="$ok" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v c="$commits" -v a="$appends" \
        -v s="$duration" 'BEGIN {
            printf "%s: %.0f rotations/s, %.1f µs CPU a rotation, %.2f appends a commit, %.0f commits/s\n",
                name, ok / s, t * 1e6 / hz / ok, a / c, c / s }'
    join "$work/threads.before" "$work/threads.after" | awk -v ok="$ok" -v c="$commits" -v hz="$(getconf CLK_TCK)" '{
        u = ($6 - $2) * 1e6 / hz; k = ($7 - $3) * 1e6 / hz
        if (u + k > 0)
            printf "    %-26s %6.1f µs a rotation (user %5.1f, system %5.1f) %7.1f µs a commit, %.2f switches and %.1f µs waiting for a core a rotation\n",
                $1, (u + k) / ok, u / ok, k / ok, (u + k) / c, ($8 - $4) / ok, ($9 - $5) / ok }'
    echo "$io_before $io_after" | awk -v c="$commits" 'NF == 4 && c > 0 {
        printf "    log writer: %.0f KiB in %.1f write calls a commit\n", ($3 - $1) / 1024 / c, ($4 - $2) / c }'
    echo "$disk_before $disk_after" | awk -v c="$commits" -v a="$appends" -v s="$duration" 'NF == 10 && c > 0 {
        w = $6 - $1
        printf "    disk: %.1f write requests and %.1f flushes a commit, busy %.0f %% of the time, %.0f µs a write request\n",
            w / c, ($9 - $4) / c, ($8 - $3) / 10 / s, (w > 0 ? ($7 - $2) * 1000 / w : 0)
        printf "    disk: %.2f write requests an append, %.0f a second; %.1f KiB written an append, %.1f MB a second\n",
            w / a, w / s, ($10 - $5) / 2 / a, ($10 - $5) * 512 / 1e6 / s }'
}
for round in $(seq "$rounds"); do
    echo "== round $round of $rounds, $duration s each"
    if ((round % 2)); then
        measure a "$port_a"
        measure b "$port_b"
    else
        measure b "$port_b"
        measure a "$port_a"
    fi
done
