#!/usr/bin/env bash
# Benchmarks a cluster of three authd nodes on one PostgreSQL server against its peers, in one
# run on loopback (wrk and pgbench share the machine's cores with the servers):
#
#   1. durable refresh rotations (POST /v1/sessions/refresh) spread over the three nodes, one
#      wrk thread a node (tools/cluster/refresh.lua), against the same PostgreSQL server running
#      the event-store peer (/work/shared/peers/postgres/es_rotate.sql: INSERT event + UPDATE
#      projection a transaction) with pgbench, 64 clients, in a database of its own;
#   2. reads by id (GET /v1/users/{id}, 128 users each reading themselves, tools/cluster/read.lua,
#      64 connections) on one node of the cluster against an embedded authd holding the same
#      users.
#
# The four measurements take turns, ROUNDS rounds of DURATION seconds each, the order reversed
# every other round; each figure is printed per round, then as mean (min..max), then the ratios
# (targets: rotations >= 1.5x pgbench, cluster reads within 10 % of embedded reads).
#
#   tools/cluster/bench.sh [ROUNDS [DURATION]]      (default 3 rounds of 8 s)
#
# Environment: PEER (the peer's directory, default /work/shared/peers/postgres), REFRESH_CONNECTIONS
# (126: 42 a node), USERS (128: the users the reads read, in both), SESSIONS (640: the cluster's
# users whose sessions the rotations rotate, the USERS among them; a user has one session, and the
# tokens in flight when a round ends are lost, up to one a connection, so SESSIONS must exceed
# ROUNDS+1 times REFRESH_CONNECTIONS), PERF_OUT (a directory: perf records the three nodes with call
# graphs during the first round's rotations into PERF_OUT/nodes.data and PERF_OUT/postgres.data,
# and writes their reports beside them), AUTHD (an authd binary to use instead of building one: only
# for trying the script out, the figures need a release build), AUTHD_BASE (another authd binary,
# to compare two builds in one run: a second cluster of three nodes runs it on a database of its
# own, with SESSIONS sessions of its own; its rotations, and reads by id on its node 1 by its
# first USERS users, take a turn in every round beside the first cluster's; the summary adds its
# figures and the ratios of the two, and the nodes' CPU per rotation of each). Needs wrk, pgbench, psql, curl, python3
# and PostgreSQL's server (tools/postgres/start-throwaway.sh). Builds authd in release mode.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
# shellcheck source=tools/await-port.sh
. "$root/tools/await-port.sh"
rounds="${1:-3}"
duration="${2:-8}"
peer="${PEER:-/work/shared/peers/postgres}"
refresh_connections="${REFRESH_CONNECTIONS:-126}"
users="${USERS:-128}"
sessions="${SESSIONS:-640}"
((sessions >= users)) || sessions="$users"

if [ -n "${AUTHD:-}" ]; then
    authd="$AUTHD"
else
    swift build -c release --product authd >/dev/null
    authd="$root/.build/release/authd"
fi

work="$(mktemp -d)"
chmod 755 "$work" # the PostgreSQL server may run as another user (as root: postgres)
cleanup() {
    "$root/tools/cluster/stop.sh" "$work/cluster" || true
    "$root/tools/cluster/stop.sh" "$work/cluster-base" || true
    local file
    for file in "$work"/*.pid; do [ -f "$file" ] && kill "$(cat "$file")" 2>/dev/null || true; done
    for file in "$work"/*.pid; do
        [ -f "$file" ] || continue
        for _ in $(seq 100); do kill -0 "$(cat "$file")" 2>/dev/null || break; sleep 0.1; done
    done
    "$root/tools/postgres/stop-throwaway.sh" "$work/postgres" || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# PostgreSQL: the shared log in database authlog, the peer in database peer.
server="$("$root/tools/postgres/start-throwaway.sh" "$work/postgres")"
base="${server%/*}"
psql -q "$server" -c 'CREATE DATABASE authlog' -c 'CREATE DATABASE peer' >/dev/null
psql -q -v ON_ERROR_STOP=1 "$base/peer" -f "$peer/schema.sql" >/dev/null
log_url="$base/authlog"

# One key-encryption key for every authd, 0600 from its first byte.
(
    umask 077
    python3 -c 'import os; print(os.urandom(32).hex())' >"$work/kek"
)

limits=(--rate-limit 100000000 --registration-rate-limit 100000000 --login-failures-per-address 100000000
    --login-failures-per-account 100000000 --max-connections-per-address 100000)

# Starts an embedded authd NAME with options (its pid in $work/NAME.pid); waits until it
# listens and prints its port.
start_authd() {
    local name="$1"
    shift
    mkdir -m 700 "$work/$name"
    AUTHLOG_KEK_FILE="$work/kek" "$authd" --data "$work/$name/data" --host 127.0.0.1 --port 0 "${limits[@]}" "$@" \
        >"$work/$name.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$work/$name.pid"
    await_port "$name" "$pid" "$work/$name.log"
}

embedded="$(start_authd embedded)"
# The three nodes: tools/cluster/start.sh on the log above (its own KEK file, the same for all).
AUTHD="$authd" AUTHLOG_LOG_URL="$log_url" "$root/tools/cluster/start.sh" "$work/cluster" 3 -- "${limits[@]}" \
    >"$work/cluster.out"
mapfile -t nodes < <(sed -n 's/^node=.* url=http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/cluster.out")
mapfile -t node_pids < <(sed -n 's/^node=.* pid=\([0-9]*\).*/\1/p' "$work/cluster.out")
[ "${#nodes[@]}" -eq 3 ] || {
    echo "bench.sh: start.sh did not start three nodes: $(cat "$work/cluster.out")" >&2
    exit 1
}
echo "== embedded authd on port $embedded; cluster nodes on ports ${nodes[*]} (log $log_url)"
if [ -n "${AUTHD_BASE:-}" ]; then
    base_log_url="$base/authlog_base"
    psql -q "$server" -c 'CREATE DATABASE authlog_base' >/dev/null
    AUTHD="$AUTHD_BASE" AUTHLOG_LOG_URL="$base_log_url" "$root/tools/cluster/start.sh" "$work/cluster-base" 3 -- \
        "${limits[@]}" >"$work/cluster-base.out"
    mapfile -t base_nodes < <(sed -n 's/^node=.* url=http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/cluster-base.out")
    mapfile -t base_node_pids < <(sed -n 's/^node=.* pid=\([0-9]*\).*/\1/p' "$work/cluster-base.out")
    [ "${#base_nodes[@]}" -eq 3 ] || {
        echo "bench.sh: start.sh did not start the base cluster's three nodes: $(cat "$work/cluster-base.out")" >&2
        exit 1
    }
    echo "== base cluster ($AUTHD_BASE) on ports ${base_nodes[*]} (log $base_log_url)"
fi

field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
password="benchmark passphrase"

# POSTs JSON BODY to PATH on PORT with more curl arguments; prints the answer with its header.
# A busy server (503: the password-hashing threads are taken on a loaded machine) is asked
# again, up to 20 times; any other failure stops the run.
post() {
    local port="$1" path="$2" body="$3"
    shift 3
    local answer status
    for _ in $(seq 20); do
        answer="$(curl -s -D - "http://127.0.0.1:$port$path" -H 'content-type: application/json' "$@" -d "$body")"
        status="$(sed -n '1s/^HTTP[^ ]* \([0-9]*\).*/\1/p' <<<"$answer")"
        case "$status" in
            2??) echo "$answer" && return 0 ;;
            503) sleep 1 ;;
            *) break ;;
        esac
    done
    echo "bench.sh: POST $path on port $port answered: $answer" >&2
    return 1
}
# Registers user N on PORT; prints its id and the log position it reached (Authlog-Position).
register() {
    local answer
    answer="$(post "$2" /v1/users \
        "{\"email\":\"bench$1@example.com\",\"password\":\"$password\",\"first_name\":\"B$1\",\"last_name\":\"M\"}")"
    echo "$(field id <<<"$answer") $(sed -n 's/^[Aa]uthlog-[Pp]osition: *\([0-9]*\).*/\1/p' <<<"$answer")"
}
# Signs user N in on PORT once the node has read the log up to POSITION; prints the answer.
login() {
    post "$2" /v1/sessions "{\"email\":\"bench$1@example.com\",\"password\":\"$password\"}" \
        -H "Authlog-Min-Position: $3"
}

# The same 128 users in the embedded authd and in the cluster (registered and signed in through
# node 1, which the reads measure). A user has one session (the seed's single refresh token):
# one login gives the access token the reads use and the refresh token the rotations use, rotated
# through every node; a second login would end the first session.
echo "== registering $users users in each, one session each, and $((sessions - users)) more in the cluster$([ -z "${AUTHD_BASE:-}" ] || echo "; $sessions in the base cluster")"
: >"$work/users-embedded"
: >"$work/users-cluster"
: >"$work/users-base"
: >"$work/tokens"
mkdir "$work/setup"
set_up_user() { # N: files setup/N.embedded (N <= USERS), setup/N.cluster, setup/N.tokens (setup/N.base{,-reader})
    local n="$1" id position answer
    if [ -n "${AUTHD_BASE:-}" ]; then # a session for the base cluster's rotations, and its reads
        read -r id position < <(register "$n" "${base_nodes[0]}")
        answer="$(login "$n" "${base_nodes[0]}" "$position")"
        field refresh_token <<<"$answer" >"$work/setup/$n.base"
        echo "$id $(field access_token <<<"$answer")" >"$work/setup/$n.base-reader"
    fi
    if ((n > users)); then # a session for the rotations alone
        read -r id position < <(register "$n" "${nodes[0]}")
        login "$n" "${nodes[0]}" "$position" | field refresh_token >"$work/setup/$n.tokens"
        return
    fi
    read -r id position < <(register "$n" "$embedded")
    echo "$id $(login "$n" "$embedded" "$position" | field access_token)" >"$work/setup/$n.embedded"
    read -r id position < <(register "$n" "${nodes[0]}")
    answer="$(login "$n" "${nodes[0]}" "$position")"
    echo "$id $(field access_token <<<"$answer")" >"$work/setup/$n.cluster"
    field refresh_token <<<"$answer" >>"$work/setup/$n.tokens"
}
# Four users at a time (the password hashing is what takes the time).
for first in $(seq 1 4 "$sessions"); do
    jobs=()
    for n in $(seq "$first" $((first + 3))); do
        ((n <= sessions)) || break
        set_up_user "$n" &
        jobs+=($!)
    done
    for job in "${jobs[@]}"; do wait "$job"; done
done
for n in $(seq "$sessions"); do
    if ((n <= users)); then
        cat "$work/setup/$n.embedded" >>"$work/users-embedded"
        cat "$work/setup/$n.cluster" >>"$work/users-cluster"
        [ -z "${AUTHD_BASE:-}" ] || cat "$work/setup/$n.base-reader" >>"$work/users-base"
    fi
    cat "$work/setup/$n.tokens" >>"$work/tokens"
    [ -z "${AUTHD_BASE:-}" ] || cat "$work/setup/$n.base" >>"$work/base-tokens"
done
for file in users-embedded users-cluster; do
    [ "$(grep -c '^[^ ]\+ [^ ]\+$' "$work/$file")" -eq "$users" ] || {
        echo "bench.sh: setting up $file failed" >&2
        exit 1
    }
done
[ -z "${AUTHD_BASE:-}" ] || [ "$(grep -c . "$work/base-tokens")" -eq "$sessions" ] || {
    echo "bench.sh: a login for the base cluster's sessions failed" >&2
    exit 1
}
[ "$(grep -c . "$work/tokens")" -eq "$sessions" ] || {
    echo "bench.sh: a login for the rotation's sessions failed" >&2
    exit 1
}

# Each measurement prints one "RESULT ok_per_s=... p99_ms=..." line into $work/results/NAME.
mkdir "$work/results"
measure_pgbench() {
    local logs="$work/pgbench-log"
    rm -rf "$logs" && mkdir "$logs"
    # pgbench exits 2 when a client aborted: two clients that draw the same user at once both
    # insert its next stream_version, and one fails on the unique key; the others go on.
    local out status=0
    out="$(cd "$logs" && pgbench -n -f "$peer/es_rotate.sql" -c 64 -j 2 -T "$duration" -l "$base/peer" 2>&1)" ||
        status=$?
    if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then
        echo "bench.sh: pgbench failed: $out" >&2
        exit 1
    fi
    local aborted
    aborted="$(grep -c 'aborted' <<<"$out" || true)"
    local tps
    tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1)"
    local failed
    failed="$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")"
    # The per-transaction log: the third column is the latency in microseconds.
    local p50 p99
    read -r p50 p99 < <(cat "$logs"/pgbench_log.* | awk '{print $3}' | sort -n |
        awk '{v[NR]=$1} END {printf "%.2f %.2f\n", v[int(NR*0.50)]/1000, v[int(NR*0.99)]/1000}')
    echo "RESULT ok_per_s=$tps p50_ms=$p50 p99_ms=$p99 failed=${failed:-0} aborted_clients=$aborted" >>"$work/results/pgbench"
}
# What the shared log's database did during the rotation rounds, summed over them.
pg_counters() { # [LOG_URL]
    psql -qAt -F ' ' "${1:-$log_url}" -c "SELECT xact_commit + xact_rollback, tup_returned + tup_fetched, tup_inserted,
        tup_updated FROM pg_stat_database WHERE datname = current_database()"
}
# CPU time of the three nodes and of the PostgreSQL server (its postmaster, which reaps the
# backends, and every live backend): `ticks` (tools/peer-bench/ticks.sh).
# shellcheck source=tools/peer-bench/ticks.sh
. "$root/tools/peer-bench/ticks.sh"
postmaster="$(head -1 "$work/postgres/data/postmaster.pid")"
cpu_counters() { # NODE_PID...
    echo "$(ticks "$@") $(ticks "$postmaster" $(pgrep -P "$postmaster"))"
}
for name in refresh refresh-base; do
    echo "0 0 0 0" >"$work/pg-during-$name"
    echo "0 0" >"$work/cpu-during-$name"
done
measure_refresh() { # [base]: the base cluster's rotations instead
    local name=refresh ports="${nodes[*]}" tokens="$work/tokens" url="$log_url" pids=("${node_pids[@]}")
    if [ "${1:-}" = base ]; then
        name=refresh-base ports="${base_nodes[*]}" tokens="$work/base-tokens" url="$base_log_url"
        pids=("${base_node_pids[@]}")
    fi
    local before after cpu_before cpu_after
    before="$(pg_counters "$url")"
    cpu_before="$(cpu_counters "${pids[@]}")"
    local recorders=()
    if [ "$name" = refresh ] && [ -n "${PERF_OUT:-}" ] && [ ! -e "$PERF_OUT/nodes.data" ]; then
        mkdir -p "$PERF_OUT"
        local seconds=$((duration > 3 ? duration - 2 : 1))
        perf record -g -o "$PERF_OUT/nodes.data" -p "$(tr ' ' , <<<"${node_pids[*]}")" -- sleep "$seconds" \
            >/dev/null 2>&1 &
        recorders+=($!)
        perf record -g -o "$PERF_OUT/postgres.data" -p "$(pgrep -d, -P "$postmaster")" -- sleep "$seconds" \
            >/dev/null 2>&1 &
        recorders+=($!)
    fi
    THREADS=3 PORTS="$ports" TOKENS="$tokens" \
        wrk -t3 -c"$refresh_connections" -d"${duration}s" -s tools/cluster/refresh.lua "http://127.0.0.1:${ports%% *}" |
        grep '^RESULT' >>"$work/results/$name"
    local recorder
    for recorder in "${recorders[@]}"; do wait "$recorder" || true; done
    cpu_after="$(cpu_counters "${pids[@]}")"
    paste -d' ' <(tr ' ' '\n' <<<"$cpu_before") <(tr ' ' '\n' <<<"$cpu_after") <(tr ' ' '\n' <"$work/cpu-during-$name") |
        awk '{printf "%d ", $3 + $2 - $1} END {print ""}' >"$work/cpu-during-$name.new"
    mv "$work/cpu-during-$name.new" "$work/cpu-during-$name"
    sleep 0.6 # pg_stat_database lags up to 500 ms behind
    after="$(pg_counters "$url")"
    paste -d' ' <(tr ' ' '\n' <<<"$before") <(tr ' ' '\n' <<<"$after") <(tr ' ' '\n' <"$work/pg-during-$name") |
        awk '{printf "%d ", $3 + $2 - $1} END {print ""}' >"$work/pg-during-$name.new"
    mv "$work/pg-during-$name.new" "$work/pg-during-$name"
}
measure_read() { # NAME PORT USERS
    USER_FILE="$3" PACE_MS= wrk -t2 -c64 -d"${duration}s" -s tools/cluster/read.lua "http://127.0.0.1:$2" |
        grep '^RESULT' >>"$work/results/$1"
}
steps=(pgbench refresh read-embedded read-cluster)
[ -z "${AUTHD_BASE:-}" ] || steps=(pgbench refresh refresh-base read-embedded read-cluster read-cluster-base)
run_step() {
    case "$1" in
        pgbench) measure_pgbench ;;
        refresh) measure_refresh ;;
        refresh-base) measure_refresh base ;;
        read-embedded) measure_read read-embedded "$embedded" "$work/users-embedded" ;;
        read-cluster) measure_read read-cluster "${nodes[0]}" "$work/users-cluster" ;;
        read-cluster-base) measure_read read-cluster-base "${base_nodes[0]}" "$work/users-base" ;;
    esac
    echo "  $1: $(tail -1 "$work/results/$1" | cut -d' ' -f2-) (load $(cut -d' ' -f1 /proc/loadavg))"
}
for r in $(seq "$rounds"); do
    echo "== round $r of $rounds, $duration s each"
    order=($(seq 0 $((${#steps[@]} - 1))))
    ((r % 2)) || order=($(seq $((${#steps[@]} - 1)) -1 0))
    for i in "${order[@]}"; do run_step "${steps[i]}"; done
done

# Mean (min..max) of one field over the rounds.
summary() { # NAME FIELD
    sed -n "s/.* $2=\\([0-9.]*\\).*/\\1/p" "$work/results/$1" |
        awk '{s+=$1; if (NR==1||$1<lo) lo=$1; if (NR==1||$1>hi) hi=$1} END {printf "%.1f (%.1f..%.1f)", s/NR, lo, hi}'
}
mean() { sed -n "s/.* $2=\\([0-9.]*\\).*/\\1/p" "$work/results/$1" | awk '{s+=$1} END {print s/NR}'; }
failures() { sed -n 's/.*non2xx=\([0-9]*\) socket_errors=\([0-9]*\).*/\1 \2/p' "$work/results/$1" | awk '{a+=$1; b+=$2} END {printf "%d non-2xx, %d socket errors", a, b}'; }

echo "== summary: mean (min..max) over $rounds rounds of $duration s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "pgbench es_rotate.sql, 64 clients:        $(summary pgbench ok_per_s) tx/s, p99 $(summary pgbench p99_ms) ms"
echo "refresh rotations, 3 nodes, $refresh_connections conns:  $(summary refresh ok_per_s) req/s, p99 $(summary refresh p99_ms) ms, $(failures refresh)"
echo "reads by id, embedded, 64 conns:          $(summary read-embedded ok_per_s) req/s, p99 $(summary read-embedded p99_ms) ms, $(failures read-embedded)"
echo "reads by id, cluster node 1, 64 conns:    $(summary read-cluster ok_per_s) req/s, p99 $(summary read-cluster p99_ms) ms, $(failures read-cluster)"
awk -v r="$(mean refresh ok_per_s)" -v p="$(mean pgbench ok_per_s)" 'BEGIN {printf "ratio rotations / pgbench:  %.2fx (target >= 1.5x)\n", r/p}'
awk -v c="$(mean read-cluster ok_per_s)" -v e="$(mean read-embedded ok_per_s)" 'BEGIN {printf "ratio cluster / embedded reads: %.2f (target >= 0.90)\n", c/e}'
if [ -n "${AUTHD_BASE:-}" ]; then
    echo "base refresh rotations, 3 nodes:          $(summary refresh-base ok_per_s) req/s, p99 $(summary refresh-base p99_ms) ms, $(failures refresh-base)"
    awk -v r="$(mean refresh-base ok_per_s)" -v p="$(mean pgbench ok_per_s)" 'BEGIN {printf "ratio base rotations / pgbench:  %.2fx\n", r/p}'
    awk -v r="$(mean refresh ok_per_s)" -v b="$(mean refresh-base ok_per_s)" 'BEGIN {printf "ratio rotations / base rotations:  %.2fx\n", r/b}'
    echo "base reads by id, cluster node 1:         $(summary read-cluster-base ok_per_s) req/s, p99 $(summary read-cluster-base p99_ms) ms, $(failures read-cluster-base)"
    awk -v c="$(mean read-cluster ok_per_s)" -v b="$(mean read-cluster-base ok_per_s)" 'BEGIN {printf "ratio cluster reads / base cluster reads: %.2f\n", c/b}'
fi
# Per rotation of NAME's rounds: what its shared log's database did, and the CPU of its nodes and
# of the PostgreSQL server.
per_rotation() { # NAME LABEL
    local rotations transactions rows_read rows_inserted rows_updated node_ticks postgres_ticks
    rotations="$(sed -n 's/.* requests=\([0-9]*\) non2xx=\([0-9]*\).*/\1 \2/p' "$work/results/$1" | awk '{s+=$1-$2} END {print s}')"
    read -r transactions rows_read rows_inserted rows_updated <"$work/pg-during-$1"
    awk -v n="$rotations" -v t="$transactions" -v r="$rows_read" -v i="$rows_inserted" -v u="$rows_updated" -v l="$2" \
        'BEGIN {printf "%sshared log database during the rotations: %d rotations; per rotation %.2f transactions, %.1f rows read, %.2f inserted, %.2f updated\n", l, n, t/n, r/n, i/n, u/n}'
    read -r node_ticks postgres_ticks <"$work/cpu-during-$1"
    awk -v n="$rotations" -v a="$node_ticks" -v p="$postgres_ticks" -v hz="$(getconf CLK_TCK)" -v l="$2" \
        'BEGIN {printf "%sCPU per rotation: %.0f us in the three nodes, %.0f us in PostgreSQL\n", l, a/hz/n*1e6, p/hz/n*1e6}'
}
per_rotation refresh ""
[ -z "${AUTHD_BASE:-}" ] || per_rotation refresh-base "base: "
for n in 0 1 2; do
    echo "node $((n + 1)) metrics:"
    curl -sf "http://127.0.0.1:${nodes[n]}/metrics" | grep -E '^authlog_(appends_total|commits_total|appended_events_total|copy_shared_log_reads_total)' || true
done
if [ -n "${PERF_OUT:-}" ] && [ -e "$PERF_OUT/nodes.data" ]; then
    for kind in nodes postgres; do
        perf report -i "$PERF_OUT/$kind.data" --stdio --no-children --sort comm,dso 2>/dev/null \
            >"$PERF_OUT/$kind-by-thread.txt"
        perf report -i "$PERF_OUT/$kind.data" --stdio --no-children --sort dso,symbol 2>/dev/null |
            { swift demangle --simplified 2>/dev/null || cat; } >"$PERF_OUT/$kind.txt"
        perf report -i "$PERF_OUT/$kind.data" --stdio --children --sort symbol -g none 2>/dev/null |
            { swift demangle --simplified 2>/dev/null || cat; } >"$PERF_OUT/$kind-inclusive.txt"
    done
    echo "perf of the first round's rotations: $PERF_OUT/{nodes,postgres}{,-by-thread,-inclusive}.txt"
fi
