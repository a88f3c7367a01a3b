#!/usr/bin/env bash
# Authlog beside its peers, in one run on loopback (the load generators share the machine's
# cores with the servers):
#
#   PostgreSQL 15 (a throwaway server, tools/postgres/start-throwaway.sh) on the peers' users
#   table of 100,000 rows, with pgbench (-n -f FILE -c 64 -j 2 -T SECONDS):
#     pg-rotate      rotate.sql, a CRUD refresh-token rotation (UPDATE users)
#     pg-es-rotate   es_rotate.sql, an event store on PostgreSQL (INSERT event + UPDATE projection)
#     pg-read        read.sql, one user by key
#   HTTP servers answering reads by id, all driven by the same client, wrk -t2
#   -cREAD_CONNECTIONS (64) with tools/cluster/read.lua (USERS different users, each request
#   with its user's token; paced when PACE_MS is set):
#     authd-read     GET /v1/users/{id} on authd (release build), each user reading themselves
#     hummingbird    a bare Hummingbird 2 route serving a fixed body (http-peer hummingbird)
#     nio            a bare SwiftNIO HTTP/1 handler serving it (http-peer nio)
#     nginx          nginx (Debian) answering `return 200` with it
#   The fixed body is authd's own answer to the first user's read, so all four send the same
#   bytes.
#     authd-rotate   durable refresh rotations, POST /v1/sessions/refresh on authd, wrk -t2
#                    -c64 with tools/cluster/refresh.lua (SESSIONS sessions, no token sent twice)
#     nio-rotate     the HTTP limit of a rotation: a bare SwiftNIO HTTP/1 handler (http-peer nio)
#                    answering the same client's requests with authd's own answer to one
#                    rotation, so the same bytes go each way and no other work is done
#   Password work, which the KDF bounds (Argon2id at authd's defaults):
#     kdf            the ceiling: one thread a core hashing, nothing else (auth-bench --ceiling)
#     authd-login    POST /v1/sessions on authd, wrk -t2 -cPASSWORD_CONNECTIONS with
#                    tools/peer-bench/login.lua (LOGIN_USERS users of their own, 64 by default:
#                    a login ends the user's previous session, so these serve no other step)
#     authd-register POST /v1/users on authd, wrk -t2 -cPASSWORD_CONNECTIONS with
#                    tools/peer-bench/register.lua (a new address each)
#                    PASSWORD_CONNECTIONS is 16 by default: authd refuses (503 busy) a password
#                    check that would wait over --hashing-wait (1 s), and wrk sends the next
#                    request at once, ignoring Retry-After; with more connections than a
#                    second's hashes, the refusals take the cores from the hashing.
#   These three run only when STEPS names them (they are not in the default set), as do
#     base-login, base-register   the same on AUTHD_BASE
#
# The steps take turns, ROUNDS rounds of SECONDS each, the order reversed every other round,
# so that the shared host's slow minutes fall on every side; before the first, each server
# that reads gets 2 s of reads (64 connections, never paced), not measured. Each step's server CPU is read
# from /proc/PID/stat (user + system, the servers' own processes; PostgreSQL's server with its
# reaped backends) before and after it, and divided by the step's successful operations; so is
# the client's (wrk's or pgbench's, from `times`), and the share of the machine's CPU time left
# idle during the step (/proc/stat), and the KiB the work directory's disk took (its block
# device's stat file). On shared cores the client's CPU is taken from the server,
# so a client that costs more per answer lowers the server's rate.
# Prints each round, then each figure as mean (min..max) with p50 and p99, the server's and the client's
# CPU per operation and the idle share, the KiB the disk took an operation, and the ratios (mean of each round's ratio, min..max
# over rounds); writes the chart (SVG) to CHART (a paced run only when CHART is given).
#
#   tools/peer-bench/run.sh [-p PEERS] [ROUNDS [SECONDS]]      (default 3 rounds of 8 s)
#
# PEERS (option -p or environment): the peers' directory, with postgres/{schema,rotate,
# es_rotate,read}.sql; default ../shared/peers beside the repository.
# Environment: CHART (default docs/peer-bench.svg; empty: none), RESULTS (a directory to keep the raw
# results in; default: removed with the rest), USERS (128), SESSIONS (default enough for the
# tokens lost in flight: 64 a round), STEPS (a subset of the steps above, space-separated),
# AUTHD / HTTP_PEER / AUTH_BENCH (binaries to use instead of building them: the figures need
# release builds), AUTHD_BASE (a second authd binary, e.g. the build before a change: set up the same
# way and measured in the same rounds as base-read and base-rotate, and base-login and
# base-register when STEPS names them, with its ratios), SERVER_CPUS and CLIENT_CPUS (both or
# neither: CPU lists as taskset takes them, e.g. 1 and 0, which must not overlap; every
# server, with its threads and children, is pinned to the first, every client (wrk, pgbench)
# to the second, and the kdf step runs on the first (auth-bench still starts a thread a core
# of the machine, so a pinned ceiling is that of the first list's CPUs). The servers are
# pinned once they have started, so they keep the threads they made for the whole machine
# (two event loops on two cores, say). Nothing else is kept off either list. Pinned, a
# server's figures are what the first list's CPUs give it with its client elsewhere; the
# issue's targets are measured unpinned, on shared cores), READ_CONNECTIONS (the wrk read
# steps' connections, an even number, 64 by default: wrk's two threads share them) and PACE_MS
# (a whole number of milliseconds above 0: each connection of the wrk read steps waits that
# long before each request, for the reads' latency at a rate below the servers' limits; pg-read
# is not paced. The summary then says the reads were paced, gives their ratios without
# targets and leaves out the ratio to pg-read, since their rates are the pace's).
# Installs the Debian packages it needs (postgresql, nginx, wrk) when they are missing.
# Everything it starts (PostgreSQL, nginx, authd, the peers) is stopped when it ends, also on
# Ctrl-C or an error.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
root="$(pwd)"

peers="${PEERS:-$root/../shared/peers}"
while getopts "p:" option; do
    case "$option" in
        p) peers="$OPTARG" ;;
        *)
            echo "usage: tools/peer-bench/run.sh [-p PEERS] [ROUNDS [SECONDS]]" >&2
            exit 64
            ;;
    esac
done
shift $((OPTIND - 1))
rounds="${1:-3}"
duration="${2:-8}"
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$duration" =~ ^[1-9][0-9]*$ ]] || {
    echo "run.sh: ROUNDS and SECONDS are positive whole numbers" >&2
    exit 64
}
peer_sql="$(cd "$peers/postgres" 2>/dev/null && pwd)" || {
    echo "run.sh: no postgres/ in the peers' directory $peers (give it with -p or PEERS)" >&2
    exit 64
}
for file in schema rotate es_rotate read; do
    [ -f "$peer_sql/$file.sql" ] || {
        echo "run.sh: $peer_sql/$file.sql is missing" >&2
        exit 64
    }
done
chart="${CHART-$root/docs/peer-bench.svg}" # set and empty: no chart
users="${USERS:-128}"
read_connections="${READ_CONNECTIONS:-64}"
pace_ms="${PACE_MS:-}"
# Each read step is given its pace; nothing else the script starts (the warm-up) inherits it.
unset PACE_MS
[[ "$read_connections" =~ ^[1-9][0-9]*$ ]] && ((read_connections % 2 == 0)) && [[ "$pace_ms" =~ ^([1-9][0-9]*)?$ ]] || {
    echo "run.sh: READ_CONNECTIONS is an even number above 0, PACE_MS a whole number of milliseconds above 0" >&2
    exit 64
}
# A paced run's rates are the pace's: it draws docs/peer-bench.svg only when CHART names it.
[ -z "$pace_ms" ] || chart="${CHART:-}"
connections=64
sessions="${SESSIONS:-$((connections * (rounds + 2)))}"
((sessions >= users)) || sessions="$users"
steps=(${STEPS:-pg-rotate authd-rotate nio-rotate pg-es-rotate pg-read authd-read hummingbird nio nginx})
[ -n "${AUTHD_BASE:-}" ] && [ -z "${STEPS:-}" ] && steps+=(base-read base-rotate)
# Whether a step matching the pattern is to run (only what the steps need is started).
wants() { [[ " ${steps[*]} " =~ \ ($1)\  ]]; }
server_cpus="${SERVER_CPUS:-}"
client_cpus="${CLIENT_CPUS:-}"
if [ -n "$server_cpus$client_cpus" ]; then
    [ -n "$server_cpus" ] && [ -n "$client_cpus" ] || {
        echo "run.sh: SERVER_CPUS and CLIENT_CPUS go together" >&2
        exit 64
    }
    taskset -c "$server_cpus" true 2>/dev/null && taskset -c "$client_cpus" true 2>/dev/null || {
        echo "run.sh: SERVER_CPUS ($server_cpus) or CLIENT_CPUS ($client_cpus) is not a list of this machine's CPUs" >&2
        exit 64
    }
    cpus_of() { taskset -c "$1" python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)), sep="\n")'; }
    shared="$(comm -12 <(cpus_of "$server_cpus" | sort) <(cpus_of "$client_cpus" | sort) | tr '\n' ' ')"
    [ -z "$shared" ] || {
        echo "run.sh: SERVER_CPUS ($server_cpus) and CLIENT_CPUS ($client_cpus) share CPUs ${shared% }" >&2
        exit 64
    }
    client=(taskset -c "$client_cpus")
    on_servers=(taskset -c "$server_cpus")
else
    client=()
    on_servers=()
fi
if wants 'base-[a-z]*' && [ -z "${AUTHD_BASE:-}" ]; then
    echo "run.sh: the base-* steps need AUTHD_BASE (a second authd binary)" >&2
    exit 64
fi

# The Debian packages the steps need.
needed=()
wants 'pg-[a-z-]*' && ! { command -v pgbench && command -v psql && ls /usr/lib/postgresql/*/bin/pg_ctl; } >/dev/null 2>&1 &&
    needed+=(postgresql)
wants nginx && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] && needed+=(nginx)
command -v wrk >/dev/null || needed+=(wrk)
command -v curl >/dev/null || needed+=(curl)
if [ ${#needed[@]} -gt 0 ]; then
    echo "== installing ${needed[*]}" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

if [ -n "${AUTHD:-}" ]; then
    authd="$AUTHD"
else
    swift build -c release --product authd >/dev/null
    authd="$root/.build/release/authd"
fi
if [ -n "${AUTH_BENCH:-}" ]; then
    auth_bench="$AUTH_BENCH"
elif wants kdf; then
    swift build -c release --product auth-bench >/dev/null
    auth_bench="$root/.build/release/auth-bench"
fi
if [ -n "${HTTP_PEER:-}" ]; then
    http_peer="$HTTP_PEER"
elif wants 'hummingbird|nio|nio-rotate'; then
    swift build -c release --product http-peer >/dev/null
    http_peer="$root/.build/release/http-peer"
fi

# Every file and directory made here is the owner's alone from its first byte: the work
# directory holds the servers' key-encryption key and live tokens.
umask 077
work="$(mktemp -d)"
# Searchable, not readable: the PostgreSQL server runs as the postgres user when this runs as
# root, in a directory of its own here, and nginx's workers as another user.
chmod 711 "$work"
cleanup() {
    local file pid
    for file in "$work"/*.pid; do
        [ -f "$file" ] || continue
        pid="$(cat "$file")"
        # nginx's master stops its workers on SIGTERM (its pid file is its own).
        kill "$pid" 2>/dev/null || true
    done
    for file in "$work"/*.pid; do
        [ -f "$file" ] || continue
        pid="$(cat "$file")"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    "$root/tools/postgres/stop-throwaway.sh" "$work/postgres" >/dev/null 2>&1 || true
    if [ -n "${RESULTS:-}" ] && [ -d "$work/results" ]; then
        mkdir -p "$RESULTS"
        cp "$work"/results/* "$RESULTS"/ 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=tools/peer-bench/authd.sh
. "$root/tools/peer-bench/authd.sh"
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir "$work/results"
{
    echo "machine=$(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "load_before=$(cut -d' ' -f1 /proc/loadavg)"
    echo "rounds=$rounds"
    echo "seconds=$duration"
    [ -z "$server_cpus" ] || echo "pinned=servers on CPUs $server_cpus, clients on CPUs $client_cpus"
    echo "read_connections=$read_connections"
    echo "password_connections=${PASSWORD_CONNECTIONS:-16}"
    echo "users=$users"
    [ -z "$pace_ms" ] || ! wants 'authd-read|base-read|hummingbird|nio|nginx' ||
        echo "paced=$pace_ms ms before each request on each of $read_connections connections (wrk read steps)"
} >"$work/results/run"

# PostgreSQL with the peers' schema (100,000 users) in database peer.
if wants 'pg-[a-z-]*'; then
    server="$("$root/tools/postgres/start-throwaway.sh" "$work/postgres")"
    base_url="${server%/*}"
    psql -q "$server" -c 'CREATE DATABASE peer' >/dev/null
    psql -q -v ON_ERROR_STOP=1 "$base_url/peer" -f "$peer_sql/schema.sql" >/dev/null
    postmaster="$(head -1 "$work/postgres/data/postmaster.pid")"
    echo "== PostgreSQL $(psql -qAt "$server" -c 'SHOW server_version') at $base_url/peer," \
        "$(psql -qAt "$base_url/peer" -c 'SELECT count(*) FROM users') users"
fi

# authd: a data directory and a key-encryption key of its own (tools/peer-bench/authd.sh).
make_kek
authd_port="$(start_authd authd "$authd")"
echo "== authd on port $authd_port: registering $sessions users, one session each ($users of them read)"
set_up_users authd "$authd_port"
login_users="${LOGIN_USERS:-64}"
password_connections="${PASSWORD_CONNECTIONS:-16}"
# Users of their own for the logins (a login ends the user's previous session).
register_login_users() { # PORT
    local first n jobs
    for first in $(seq 1 4 "$login_users"); do
        jobs=()
        for n in $(seq "$first" $((first + 3))); do
            ((n <= login_users)) || break
            post "$1" /v1/users "{\"email\":\"login$n@example.com\",\"password\":\"$password\",\"first_name\":\"L$n\",\"last_name\":\"M\"}" >/dev/null &
            jobs+=($!)
        done
        for job in "${jobs[@]}"; do wait "$job"; done
    done
}
if wants authd-login; then
    echo "== authd: registering $login_users users for the logins"
    register_login_users "$authd_port"
fi
if [ -n "${AUTHD_BASE:-}" ]; then
    base_port="$(start_authd base "$AUTHD_BASE")"
    echo "== base authd ($AUTHD_BASE) on port $base_port: the same users"
    set_up_users base "$base_port"
    if wants base-login; then
        echo "== base authd: registering $login_users users for the logins"
        register_login_users "$base_port"
    fi
fi

# The fixed body of the HTTP limits: authd's answer to the first user's read of themselves.
read -r first_id first_token <"$work/authd.users"
curl -sf "http://127.0.0.1:$authd_port/v1/users/$first_id" -H "Authorization: Bearer $first_token" >"$work/body.json"
grep -q "$first_id" "$work/body.json" || {
    echo "run.sh: authd did not answer the first user's read" >&2
    exit 1
}
grep -q "['\\\\\$]" "$work/body.json" && {
    echo "run.sh: the body holds a character nginx's return would need escaped" >&2
    exit 1
}

start_peer() { # KIND [NAME BODY_FILE]: prints the port (NAME: the step; default KIND, body.json)
    local name="${2:-$1}"
    "$http_peer" "$1" "${3:-$work/body.json}" >"$work/$name.log" 2>&1 </dev/null &
    echo $! >"$work/$name.pid"
    await_port "$name" $! "$work/$name.log"
}
wants hummingbird && hummingbird_port="$(start_peer hummingbird)"
wants nio && nio_port="$(start_peer nio)"
# The rotation's HTTP limit answers with authd's own answer to one rotation, made here with the
# last session's token, which the answer's token then replaces. The answer holds a live token
# pair: it is written 0600 (the umask above) and goes with the work directory. Its client gets
# a pool of that answer's refresh token, so that its requests are as long as authd's.
if wants nio-rotate; then
    token="$(tail -1 "$work/authd.tokens")"
    # As authd sent it: the command substitution drops the newline `post` adds.
    answer="$(post "$authd_port" /v1/sessions/refresh "{\"refresh_token\":\"$token\"}")"
    printf '%s' "$answer" >"$work/rotation.json"
    new_token="$(field refresh_token <"$work/rotation.json")"
    [ -n "$new_token" ] || {
        echo "run.sh: authd's answer to a rotation holds no refresh token" >&2
        exit 1
    }
    sed -i '$d' "$work/authd.tokens"
    echo "$new_token" >>"$work/authd.tokens"
    for _ in $(seq "$sessions"); do echo "$new_token"; done >"$work/nio-rotate.tokens"
    nio_rotate_port="$(start_peer nio nio-rotate "$work/rotation.json")"
    cmp -s <(curl -sf "http://127.0.0.1:$nio_rotate_port/v1/sessions/refresh" -H 'content-type: application/json' \
        -d "{\"refresh_token\":\"$(head -1 "$work/nio-rotate.tokens")\"}") "$work/rotation.json" || {
        echo "run.sh: the rotation's NIO handler on port $nio_rotate_port does not serve authd's answer; its output:" >&2
        cat "$work/nio-rotate.log" >&2
        exit 1
    }
fi

# nginx as Debian ships it, with a configuration of its own in the work directory: two
# workers (one a core), no access log, connections kept as long as the client wants.
if wants nginx; then
    nginx_port="$(free_port)"
    mkdir -m 711 "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            default_type application/json;
            return 200 '$(cat "$work/body.json")';
        }
    }
}
EOF
    "$nginx_bin" -e "$work/nginx/error.log" -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx.log" 2>&1 </dev/null &
    echo $! >"$work/nginx.pid"
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$nginx_port/" >/dev/null 2>&1 && break
        kill -0 "$(cat "$work/nginx.pid")" 2>/dev/null || break
        sleep 0.1
    done
fi
for peer in hummingbird nio nginx; do
    wants "$peer" || continue
    port_name="${peer}_port"
    cmp -s <(curl -sf "http://127.0.0.1:${!port_name}/v1/users/$first_id") "$work/body.json" || {
        echo "run.sh: $peer on port ${!port_name} does not serve the body; its output:" >&2
        cat "$work/$peer.log" "$work/nginx/error.log" >&2 2>/dev/null
        exit 1
    }
done
echo "== body of $(wc -c <"$work/body.json") bytes; hummingbird on port ${hummingbird_port:-none}," \
    "nio on ${nio_port:-none}, nginx on ${nginx_port:-none}; the rotation's NIO handler on ${nio_rotate_port:-none}"

# shellcheck source=tools/peer-bench/ticks.sh
. "$root/tools/peer-bench/ticks.sh"
clock_ticks="$(getconf CLK_TCK)"
# The pids whose CPU a step's server spends: the process and its children (nginx's workers,
# PostgreSQL's backends and helpers).
server_pids() { # PID
    echo "$1"
    pgrep -P "$1" || true
}
# The machine's CPU time in clock ticks since boot: idle (idle and iowait), then all of it
# (user, nice, system, idle, iowait, irq, softirq, steal; guest time is in user already).
machine_ticks() {
    awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}
# The share of the machine's CPU time left idle between two machine_ticks readings, in %.
# Unpinned, a server that leaves it above zero while its client waits on it is itself waiting
# (on a disk, a lock); pinned, it holds whatever CPU the client or the server left unused.
idle_pct() { # BEFORE AFTER (each "IDLE ALL")
    awk -v b="$1" -v a="$2" 'BEGIN {split(b, x, " "); split(a, y, " ");
        printf "%.1f", (y[2] > x[2]) ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0}'
}
# "client_s=SECONDS": the CPU time (user + system) the calling shell's children have spent,
# from the second line of `times`; called last in the subshell that ran a step's client.
# (`times` in a pipe would report a subshell of its own, with no children.)
client_cpu() {
    local LC_ALL=C # `times` writes the locale's decimal point
    times >"$work/times"
    awk 'NR == 2 {split($1, u, "m"); split($2, s, "m"); printf "client_s=%.3f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2]}' \
        "$work/times"
}
# PostgreSQL's backends exit after pgbench disconnects; their CPU is counted once the
# postmaster has reaped them (as many children as before the step).
await_children() { # PID COUNT
    for _ in $(seq 100); do
        [ "$(pgrep -c -P "$1" || true)" -le "$2" ] && return 0
        sleep 0.05
    done
}

# The sectors (512 bytes) written so far by the block device holding the work directory
# (tools/peer-bench/disk.sh), empty on a file system without one.
# shellcheck source=tools/peer-bench/disk.sh
. "$root/tools/peer-bench/disk.sh"
disk_stat="$(block_stat "$work")"
disk_sectors() {
    [ -z "$disk_stat" ] || awk '{print $7}' "$disk_stat"
}
# Before a step's first reading: what the system still held unwritten from the steps before
# (their files' pages, written back late) goes to the disk now, not during this step's count.
# PostgreSQL's own buffers are its checkpoints' to write, and can still land in a later step.
settle_disk() {
    [ -z "$disk_stat" ] || sync
}
# "disk_kib=N": KiB the disk took between two disk_sectors readings (nothing without them).
disk_kib() { # BEFORE AFTER
    [ -z "$1" ] || [ -z "$2" ] || echo "disk_kib=$((($2 - $1) / 2))"
}

measure_pgbench() { # STEP FILE
    local logs="$work/pgbench-log" out status=0 children before after machine_before machine_after
    local sectors_before sectors_after
    rm -rf "$logs" && mkdir "$logs"
    children="$(pgrep -c -P "$postmaster" || true)"
    settle_disk
    before="$(ticks $(server_pids "$postmaster"))"
    machine_before="$(machine_ticks)"
    sectors_before="$(disk_sectors)"
    # Exit 2: a client aborted. In es_rotate.sql two clients that draw the same user at once
    # both insert its next stream_version and one fails on the unique key; the others go on.
    out="$(
        cd "$logs"
        code=0
        "${client[@]}" pgbench -n -f "$peer_sql/$2" -c "$connections" -j 2 -T "$duration" -l --sampling-rate=0.1 \
            "$base_url/peer" 2>&1 || code=$?
        client_cpu
        exit "$code"
    )" || status=$?
    machine_after="$(machine_ticks)"
    sectors_after="$(disk_sectors)"
    if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then
        echo "run.sh: pgbench failed: $out" >&2
        exit 1
    fi
    await_children "$postmaster" "$children"
    after="$(ticks $(server_pids "$postmaster"))"
    local tps processed aborted p50 p99
    tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1)"
    processed="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")"
    aborted="$(grep -c 'aborted' <<<"$out" || true)"
    # The per-transaction log (one in ten sampled): the third column is the latency in µs.
    read -r p50 p99 < <(cat "$logs"/pgbench_log.* | awk '{print $3}' | sort -n |
        awk '{v[NR]=$1} END {printf "%.2f %.2f\n", v[int(NR*0.50)+1]/1000, v[int(NR*0.99)+1]/1000}')
    echo "ok_per_s=$tps p50_ms=$p50 p99_ms=$p99 ok=$processed aborted_clients=$aborted" \
        "cpu_s=$(awk -v t=$((after - before)) -v h="$clock_ticks" 'BEGIN {print t / h}')" \
        "idle_pct=$(idle_pct "$machine_before" "$machine_after")" "$(grep '^client_s=' <<<"$out")" \
        "$(disk_kib "$sectors_before" "$sectors_after")"
}
measure_wrk() { # SCRIPT PORT PID ENV...
    local script="$1" port="$2" pid="$3" before after out line machine_before machine_after
    local sectors_before sectors_after
    shift 3
    settle_disk
    before="$(ticks $(server_pids "$pid"))"
    machine_before="$(machine_ticks)"
    sectors_before="$(disk_sectors)"
    out="$(
        env "$@" "${client[@]}" wrk -t2 -c"${step_connections:-$connections}" -d"${duration}s" -s "$script" \
            "http://127.0.0.1:$port" | grep '^RESULT'
        client_cpu
    )"
    line="$(grep '^RESULT' <<<"$out")"
    machine_after="$(machine_ticks)"
    sectors_after="$(disk_sectors)"
    after="$(ticks $(server_pids "$pid"))"
    local ok
    ok="$(sed -n 's/.* requests=\([0-9]*\) non2xx=\([0-9]*\).*/\1 \2/p' <<<"$line" | awk '{print $1 - $2}')"
    echo "${line#RESULT } ok=$ok cpu_s=$(awk -v t=$((after - before)) -v h="$clock_ticks" 'BEGIN {print t / h}')" \
        "idle_pct=$(idle_pct "$machine_before" "$machine_after")" "$(grep '^client_s=' <<<"$out")" \
        "$(disk_kib "$sectors_before" "$sectors_after")"
}
# The KDF's ceiling: auth-bench hashing on every core; its own CPU (cpu_s) is the step's.
measure_kdf() {
    local line
    line="$("${on_servers[@]}" "$auth_bench" --ceiling "$duration" | grep '^RESULT')"
    echo "${line#RESULT } ok=$(sed -n 's/.* hashes=\([0-9]*\).*/\1/p' <<<"$line")"
}
read_lua="$root/tools/cluster/read.lua"
# A read step's server: its port, the name of its pid file, the users file its client reads.
read_server() { # STEP: prints PORT NAME USERS_FILE
    case "$1" in
        authd-read) echo "$authd_port authd $work/authd.users" ;;
        base-read) echo "$base_port base $work/base.users" ;;
        *) local port_name="${1}_port" && echo "${!port_name} $1 $work/authd.users" ;;
    esac
}
refresh_lua="$root/tools/cluster/refresh.lua"
run_step() { # STEP ROUND
    local result
    case "$1" in
        pg-rotate) result="$(measure_pgbench "$1" rotate.sql)" ;;
        pg-es-rotate) result="$(measure_pgbench "$1" es_rotate.sql)" ;;
        pg-read) result="$(measure_pgbench "$1" read.sql)" ;;
        authd-read | base-read | hummingbird | nio | nginx)
            local port name users
            read -r port name users < <(read_server "$1")
            result="$(step_connections="$read_connections" measure_wrk "$read_lua" "$port" "$(cat "$work/$name.pid")" \
                USER_FILE="$users" PACE_MS="$pace_ms")"
            ;;
        authd-rotate)
            result="$(measure_wrk "$refresh_lua" "$authd_port" "$(cat "$work/authd.pid")" \
                PORTS="$authd_port" THREADS=2 TOKENS="$work/authd.tokens")"
            ;;
        base-rotate)
            result="$(measure_wrk "$refresh_lua" "$base_port" "$(cat "$work/base.pid")" \
                PORTS="$base_port" THREADS=2 TOKENS="$work/base.tokens")"
            ;;
        nio-rotate)
            result="$(measure_wrk "$refresh_lua" "$nio_rotate_port" "$(cat "$work/nio-rotate.pid")" \
                PORTS="$nio_rotate_port" THREADS=2 TOKENS="$work/nio-rotate.tokens")"
            ;;
        kdf) result="$(measure_kdf)" ;;
        authd-login | base-login | authd-register | base-register)
            # NAME-login or NAME-register, on authd NAME's port.
            local name="${1%-*}" port_name="${1%-*}_port" script=login.lua extra="LOGIN_USERS=$login_users"
            [ "${1#*-}" = login ] || { script=register.lua && extra="RUN=$2-$RANDOM$RANDOM"; }
            result="$(step_connections="$password_connections" measure_wrk "$root/tools/peer-bench/$script" \
                "${!port_name}" "$(cat "$work/$name.pid")" "$extra")"
            ;;
        *)
            echo "run.sh: no step $1" >&2
            exit 64
            ;;
    esac
    echo "round=$2 $result load=$(cut -d' ' -f1 /proc/loadavg)" >>"$work/results/$1"
    echo "  $1: $result (load $(cut -d' ' -f1 /proc/loadavg))"
}

# 2 s of reads on each reading server before the first round, not measured: no server
# meets round 1 cold (docs/performance.md).
warm_up() {
    local step port name users
    for step in authd-read base-read hummingbird nio nginx; do
        wants "$step" || continue
        read -r port name users < <(read_server "$step")
        USER_FILE="$users" "${client[@]}" wrk -t2 -c"$connections" -d2s -s "$read_lua" "http://127.0.0.1:$port" >/dev/null
    done
}
# Pinned: every server process, each of its threads and its children (nginx's workers,
# PostgreSQL's processes; backends forked later inherit the postmaster's CPUs).
if [ -n "$server_cpus" ]; then
    for file in "$work"/*.pid; do
        for pid in $(server_pids "$(cat "$file")"); do taskset -a -c -p "$server_cpus" "$pid" >/dev/null; done
    done
    [ -z "${postmaster:-}" ] || for pid in $(server_pids "$postmaster"); do
        taskset -a -c -p "$server_cpus" "$pid" >/dev/null
    done
    echo "== pinned: servers on CPUs $server_cpus, clients on CPUs $client_cpus"
fi
warm_up

for round in $(seq "$rounds"); do
    echo "== round $round of $rounds, $duration s a step"
    if ((round % 2)); then
        order=("${steps[@]}")
    else
        order=()
        for ((i = ${#steps[@]} - 1; i >= 0; i--)); do order+=("${steps[i]}"); done
    fi
    for step in "${order[@]}"; do run_step "$step" "$round"; done
done
# Where authd's ES256 signatures took their nonces (docs/architecture.md, "ES256 nonces made
# ahead of time"): a build before the pool prints nothing here.
for name in authd base; do
    port_name="${name}_port"
    [ -n "${!port_name:-}" ] || continue
    curl -fsS "http://127.0.0.1:${!port_name}/metrics" 2>/dev/null | grep '^authlog_es256_signatures_total' \
        | sed "s/^/== $name: /" || true
done
{
    echo "load_after=$(cut -d' ' -f1 /proc/loadavg)"
    echo "body_bytes=$(wc -c <"$work/body.json")"
    echo "users=$users"
    echo "sessions=$sessions"
} >>"$work/results/run"
python3 "$root/tools/peer-bench/report.py" "$work/results" "$chart"
