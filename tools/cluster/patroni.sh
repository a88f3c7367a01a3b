#!/usr/bin/env bash
# A three-member PostgreSQL 15 cluster managed by Patroni, and a failover under write load.
#
#   tools/cluster/patroni.sh DIR start      starts, all on 127.0.0.1 and all data in DIR (new or empty):
#                                           a single-member etcd, three Patroni members (synchronous
#                                           replication: a commit is acknowledged once it is on two
#                                           members) and HAProxy routing one port to the current primary.
#                                           Waits until the primary streams to both replicas, one of them
#                                           synchronous, then prints `key=value` lines:
#                                             primary_url=postgres://postgres@127.0.0.1:PORT/postgres  (HAProxy)
#                                             member=NAME url=postgres://... api=http://...           (one per member)
#                                             etcd_url=http://127.0.0.1:PORT
#   tools/cluster/patroni.sh DIR failover   on a started cluster: runs a write load through HAProxy,
#                                           kills the primary's PostgreSQL (every process, SIGKILL) in
#                                           the middle of it, waits for writes to resume on the promoted
#                                           replica, checks that the new primary has every acknowledged
#                                           write, prints the report below; exit 0 only if none was
#                                           lost, writes resumed and the old primary came back as a
#                                           replica.
#   tools/cluster/patroni.sh DIR stop       stops everything started in DIR and removes DIR.
#
# start exits 1 with the reason when a part does not come up, leaving DIR (and its logs/) for a
# look; stop ends whatever did start. Bad arguments exit 64.
#
# The failover report, one `key=value` a line (the format is stable; scripts read it):
#   failover_load=authd|psql                what carried the writes
#   failover_killed=NAME                    the member whose PostgreSQL was killed
#   failover_new_primary=NAME               the member promoted in its place
#   acknowledged_writes=N                   writes acknowledged to the client (before, during, after)
#   acknowledged_writes_lost=N              of those, missing on the new primary (must be 0)
#   failed_writes=N                         attempts that got an error or no answer (not acknowledged)
#   failed_writes_by_answer=A:N,...         those by answer: STATUS_CODE (authd's status and problem
#                                           code, e.g. 503_write_failed), no_answer, or psql_error;
#                                           empty when none failed
#   writes_resumed_seconds=S.SSS            from the kill to the first acknowledged write begun after it
#   old_primary_rejoined_seconds=S.SSS      from the kill until the old primary streams from the new one
#   failover_result=ok|no_primary|lost_writes|server_error|no_resume|no_rejoin   the first that
#                                           applies (server_error: a write answered 5xx but not 503)
#
# The load (FAILOVER_LOAD): `authd` when authd has --log-url ($AUTHD, or .build/debug/authd),
# else `psql`. authd: one node (tools/cluster/start.sh, its data in DIR/authd) on the log behind
# HAProxy; each writer registers users, and a 201 acknowledges a write at its Authlog-Position:
# the new primary's authlog.events must hold that position, in the new user's stream. psql: each
# writer inserts numbered rows into a table failover_probe, one psql call per row, so that
# psql's exit status acknowledges one commit. FAILOVER_WRITERS (4) writers, FAILOVER_BEFORE (5)
# seconds of load before the kill, FAILOVER_AFTER (5) seconds after writes resume.
#
# PATRONI_SYNCHRONOUS=off (at start) replicates asynchronously instead: a commit is acknowledged
# once the primary has it, so a failover can lose acknowledged writes, and the report says so.
#
# As root, PostgreSQL and Patroni run as the `postgres` user (PostgreSQL refuses root): DIR's parents
# must be searchable by it. Needs Debian's postgresql (15), patroni, etcd-server and haproxy packages;
# missing ones are installed with apt-get (their services are not started: they run from DIR only).
set -euo pipefail
export LC_NUMERIC=C # times are written with a decimal point whatever the locale

usage() {
    echo "usage: patroni.sh DIR start|failover|stop" >&2
    exit 64
}
[ $# -eq 2 ] || usage
dir="$1"
command="$2"

members=(pg1 pg2 pg3)
root="$(cd "$(dirname "$0")/../.." && pwd)"
pg_bin=/usr/lib/postgresql/15/bin

as_owner=()
owner="$(id -un)"
if [ "$(id -u)" -eq 0 ]; then
    as_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    owner=postgres
fi

log() { echo "patroni.sh: $*" >&2; }
die() {
    log "$*"
    exit 1
}

ensure_packages() {
    local missing=() package
    for package in postgresql-15 patroni etcd-server haproxy; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    # Debian starts a package's service on install where it can; this cluster runs from DIR only.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    local service
    for service in etcd patroni haproxy; do
        if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
            $sudo systemctl stop "$service" || true
            $sudo systemctl disable --quiet "$service" || true
        fi
    done
}

# Free ports, chosen by the kernel, all held at once so that they differ. Another program may
# take one before its server binds it; the start then fails and says which.
free_ports() {
    python3 -c '
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))' "$1"
}

now() { echo "$EPOCHREALTIME"; }

# Starts a daemon in its own session with its output in DIR/logs/NAME.log and its pid in DIR/pids/NAME.
spawn() {
    local name="$1"
    shift
    setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/pids/$name"
}

# A daemon started by an earlier call of this script is not its child: once ended it may stay a
# zombie until init reaps it, so a zombie counts as gone.
alive() {
    local state
    [ -f "$dir/pids/$1" ] && state="$(ps -o stat= -p "$(cat "$dir/pids/$1")")" && [ "${state:0:1}" != Z ]
}
none_alive() {
    local name
    for name in "$@"; do
        ! alive "$name" || return 1
    done
}

# `psql` on a member's or HAProxy's port: one statement, unaligned rows, no connection wait beyond 2 s.
sql() {
    local port="$1"
    shift
    PGCONNECT_TIMEOUT=2 "$pg_bin/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c "$@" 2>/dev/null
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

load_ports() {
    # shellcheck disable=SC1091
    source "$dir/ports"
}

primary_port() { sql "$haproxy_port" "select case when pg_is_in_recovery() then 0 else inet_server_port() end"; }

member_of_port() {
    local i
    for i in 0 1 2; do
        [ "${pg_ports[$i]}" = "$1" ] && echo "${members[$i]}" && return 0
    done
    return 1
}

# The primary streams to both replicas, one of them synchronously (none with PATRONI_SYNCHRONOUS=off), each through its replication
# slot. Only the members' own connections count: a replica's pg_basebackup also streams, through
# a temporary slot, while it is being copied. And Patroni creates the slots once the replicas run,
# so a replica that first streamed without one reconnects through it: only then is all settled.
replicating() {
    local primary members_list="'pg1', 'pg2', 'pg3'"
    primary="$(primary_port)" && [ -n "$primary" ] && [ "$primary" != 0 ] || return 1
    [ "$(sql "$primary" "select (select count(*) filter (where state = 'streaming') || ' ' || count(*) filter (where sync_state = 'sync') from pg_stat_replication where application_name in ($members_list)) || ' ' || (select count(*) from pg_replication_slots where active and slot_name in ($members_list))")" = "2 $([ "$synchronous_mode" = true ] && echo 1 || echo 0) 2" ]
}

write_patroni_config() {
    local i="$1" name="${members[$1]}"
    cat >"$dir/$name/patroni.yml" <<EOF
scope: authlog
namespace: /authlog/
name: $name
log:
  level: INFO
restapi:
  listen: 127.0.0.1:${api_ports[$i]}
  connect_address: 127.0.0.1:${api_ports[$i]}
etcd3:
  hosts: 127.0.0.1:$etcd_client_port
bootstrap:
  dcs:
    # Short intervals so that a crash is noticed in about a second (loop_wait) and a lost leader
    # in ttl seconds; primary_start_timeout 0 fails over to the synchronous standby at once
    # instead of restarting the crashed primary in place.
    ttl: 10
    loop_wait: 1
    retry_timeout: 3
    primary_start_timeout: 0
    maximum_lag_on_failover: 1048576
    # A commit is acknowledged only once the synchronous standby has it, and only that standby
    # may be promoted; strict: with no standby left, commits wait instead of going local-only.
    synchronous_mode: $synchronous_mode
    synchronous_mode_strict: $synchronous_mode
    synchronous_node_count: 1
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 100
        shared_buffers: 32MB
        fsync: "on"
        synchronous_commit: "on"
        # A replica retries a lost primary every 5 s by default; after a promotion the other
        # replica must reattach quickly, since strict mode holds every commit until it does.
        wal_retrieve_retry_interval: 500ms
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${pg_ports[$i]}
  connect_address: 127.0.0.1:${pg_ports[$i]}
  data_dir: $dir/$name/data
  bin_dir: $pg_bin
  # A crashed primary may hold commits its standby never acknowledged: it rejoins through
  # pg_rewind (use_pg_rewind), or, should that fail, as a fresh copy of the new primary.
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  pgpass: $dir/$name/pgpass
  authentication:
    superuser:
      username: postgres
    replication:
      username: replicator
    rewind:
      username: postgres
  parameters:
    unix_socket_directories: $dir/$name
    logging_collector: "off"
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
EOF
}

write_haproxy_config() {
    {
        cat <<EOF
global
    maxconn 200
defaults
    mode tcp
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s
    retries 2
listen primary
    bind 127.0.0.1:$haproxy_port
    # Patroni's REST API answers 200 on /primary only on the member holding the leader lock.
    option httpchk
    http-check send meth GET uri /primary
    http-check expect status 200
    default-server inter 300ms fall 2 rise 1 on-marked-down shutdown-sessions
EOF
        local i
        for i in 0 1 2; do
            echo "    server ${members[$i]} 127.0.0.1:${pg_ports[$i]} check port ${api_ports[$i]}"
        done
    } >"$dir/haproxy.cfg"
}

start() {
    ensure_packages
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    mkdir -p "$dir/logs" "$dir/pids"
    case "${PATRONI_SYNCHRONOUS:-on}" in
    on) synchronous_mode=true ;;
    off) synchronous_mode=false ;;
    *) die "PATRONI_SYNCHRONOUS must be on or off" ;;
    esac
    read -r etcd_client_port etcd_peer_port haproxy_port p1 p2 p3 a1 a2 a3 <<<"$(free_ports 9)"
    pg_ports=("$p1" "$p2" "$p3")
    api_ports=("$a1" "$a2" "$a3")
    cat >"$dir/ports" <<EOF
synchronous_mode=$synchronous_mode
etcd_client_port=$etcd_client_port
haproxy_port=$haproxy_port
pg_ports=(${pg_ports[*]})
api_ports=(${api_ports[*]})
EOF
    spawn etcd etcd --name etcd --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_client_port" \
        --advertise-client-urls "http://127.0.0.1:$etcd_client_port" \
        --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
        --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
        --initial-cluster "etcd=http://127.0.0.1:$etcd_peer_port" --initial-cluster-state new
    wait_for 30 curl -fs -o /dev/null "http://127.0.0.1:$etcd_client_port/health" ||
        die "etcd did not start; see $dir/logs/etcd.log"
    local i name
    for i in 0 1 2; do
        name="${members[$i]}"
        mkdir -p "$dir/$name"
        write_patroni_config "$i"
        chown -R "$owner:" "$dir/$name"
        "${as_owner[@]}" test -w "$dir/$name" || die "$owner cannot reach $dir (make its parents searchable: chmod o+x)"
        spawn "$name" env HOME="$dir/$name" "${as_owner[@]}" patroni "$dir/$name/patroni.yml"
        # The first member bootstraps the cluster; the others copy it once it is up.
        if [ "$i" -eq 0 ]; then
            wait_for 60 curl -fs -o /dev/null "http://127.0.0.1:${api_ports[0]}/primary" ||
                die "the first member did not become primary; see $dir/logs/$name.log"
        fi
    done
    write_haproxy_config
    spawn haproxy haproxy -db -f "$dir/haproxy.cfg"
    wait_for 90 replicating || die "the replicas did not start streaming; see $dir/logs/"
    echo "primary_url=postgres://postgres@127.0.0.1:$haproxy_port/postgres"
    for i in 0 1 2; do
        echo "member=${members[$i]} url=postgres://postgres@127.0.0.1:${pg_ports[$i]}/postgres api=http://127.0.0.1:${api_ports[$i]}"
    done
    echo "etcd_url=http://127.0.0.1:$etcd_client_port"
}

# Kills every process of a member's PostgreSQL at once: the postmaster and all its children.
# The postmaster is stopped first, so that no child starts between the listing and the kill.
kill_postgres() {
    local name="$1" postmaster
    postmaster="$(head -1 "$dir/$name/data/postmaster.pid")"
    kill -STOP "$postmaster"
    local pids=("$postmaster")
    mapfile -t -O 1 pids < <(ps -o pid= --ppid "$postmaster" | tr -d ' ')
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

# One psql writer: inserts rows numbered WRITER*1e9 + 1, 2, ... until DIR/load/stop exists, one
# psql call (one connection, one commit) per row. An acknowledged row is recorded as `ID START END`
# once psql exits 0; anything else is a failure, and the next attempt takes the next number.
writer_psql() {
    local w="$1" sequence=0 id started
    local acked="$dir/load/acked.$w" failed="$dir/load/failed.$w"
    while [ ! -e "$dir/load/stop" ]; do
        sequence=$((sequence + 1))
        id=$((w * 1000000000 + sequence))
        started="$(now)"
        if sql "$haproxy_port" "insert into failover_probe (id) values ($id)" >/dev/null; then
            echo "$id $started $(now)" >>"$acked"
        else
            echo "$id $started $(now)" >>"$failed"
            sleep 0.05
        fi
    done
}

# One authd writer: registers users w$WRITER-$N@failover.test until DIR/load/stop exists. A 201 is
# an acknowledged write, recorded as `POSITION:USER-ID START END` from its Authlog-Position header
# and the id in its body; anything else (503 while the log is away, no answer) is a failure,
# recorded with its status and problem code, and the next attempt registers the next address.
writer_authd() {
    local w="$1" sequence=0 started code position id
    local acked="$dir/load/acked.$w" failed="$dir/load/failed.$w"
    local body="$dir/load/body.$w" headers="$dir/load/headers.$w"
    while [ ! -e "$dir/load/stop" ]; do
        sequence=$((sequence + 1))
        started="$(now)"
        code="$(curl -s -o "$body" -D "$headers" -w '%{http_code}' --max-time 30 \
            -H 'content-type: application/json' \
            --data "{\"email\": \"w$w-$sequence@failover.test\", \"password\": \"failover probe password\", \"first_name\": \"Fail\", \"last_name\": \"Over\"}" \
            "$authd_url/v1/users")" || code=000
        position="$(tr -d '\r' <"$headers" | sed -n 's/^[Aa]uthlog-[Pp]osition: *\([0-9]*\)$/\1/p')"
        id="$(sed -n 's/.*"id" *: *"\([0-9A-Fa-f-]*\)".*/\1/p' "$body" | tr 'A-F' 'a-f')"
        if [ "$code" = 201 ] && [ -n "$position" ] && [ -n "$id" ]; then
            echo "$position:$id $started $(now)" >>"$acked"
        else
            echo "w$w-$sequence $started $(now) $code $(sed -n 's/.*"code" *: *"\([a-z_]*\)".*/\1/p' "$body" 2>/dev/null)" >>"$failed"
            sleep 0.05
        fi
    done
}

# What is on the primary at PORT, in the form the writers record acknowledgements in.
present_psql() { sql "$1" "select id from failover_probe"; }
present_authd() { sql "$1" "select position || ':' || stream_id from authlog.events"; }

# Whether this authd can share a log on PostgreSQL (--log-url).
authd_binary() { echo "${AUTHD:-$root/.build/debug/authd}"; }
# The whole help is read first: `grep -q` would stop at the match, and under pipefail the
# SIGPIPE authd then meets while still writing would make the check fail now and then.
authd_has_log_url() {
    [ -x "$(authd_binary)" ] || return 1
    local help
    help="$("$(authd_binary)" --help 2>&1)" || true
    [[ "$help" == *--log-url* ]]
}

failover() {
    [ -f "$dir/ports" ] || die "no cluster in $dir: run patroni.sh $dir start first"
    dir="$(cd "$dir" && pwd)"
    load_ports
    replicating || die "the cluster is not replicating to both replicas; see $dir/logs/"
    local writers="${FAILOVER_WRITERS:-4}" before="${FAILOVER_BEFORE:-5}" after="${FAILOVER_AFTER:-5}"
    local load="${FAILOVER_LOAD:-}"
    if [ -z "$load" ]; then
        load=psql
        authd_has_log_url && load=authd
    fi
    rm -rf "$dir/load" "$dir/authd"
    mkdir -p "$dir/load"
    case "$load" in
    psql)
        sql "$haproxy_port" "create table if not exists failover_probe (id bigint primary key)" >/dev/null ||
            die "cannot create the probe table through HAProxy"
        ;;
    authd)
        authd_has_log_url || die "$(authd_binary) has no --log-url (build it, or set AUTHD)"
        # One node on the log behind HAProxy, with registration throttling out of the way and
        # hashing allowed to queue (on a busy machine it would answer 503 busy).
        AUTHD="$(authd_binary)" AUTHLOG_LOG_URL="postgres://postgres@127.0.0.1:$haproxy_port/postgres" \
            "$root/tools/cluster/start.sh" "$dir/authd" 1 -- --registration-rate-limit 1000000 \
            --hashing-wait 10 >"$dir/load/authd-start" || die "authd did not start"
        authd_url="$(sed -n 's/^node=node-1 url=\([^ ]*\) .*/\1/p' "$dir/load/authd-start")"
        ;;
    *) die "FAILOVER_LOAD must be psql or authd" ;;
    esac
    local old_port old_name
    old_port="$(primary_port)"
    old_name="$(member_of_port "$old_port")"
    local w writer_pids=()
    for ((w = 1; w <= writers; w++)); do
        : >"$dir/load/acked.$w"
        : >"$dir/load/failed.$w"
        "writer_$load" "$w" &
        writer_pids+=($!)
    done
    # An interrupted run leaves no writer behind (a call in flight ends on its own).
    trap 'touch "$dir/load/stop" 2>/dev/null; kill "${writer_pids[@]}" 2>/dev/null || true' EXIT
    sleep "$before"
    local killed_at
    kill_postgres "$old_name"
    killed_at="$(now)" # once every process is gone: no write begun after this can reach the old primary
    log "killed $old_name's PostgreSQL at $killed_at"
    # Writes resumed: some acknowledged write began after the kill.
    resumed() {
        local first
        first="$(cat "$dir"/load/acked.* | awk -v k="$killed_at" '$2 > k && (m == "" || $3 < m) { m = $3 } END { print m }')"
        [ -n "$first" ] && echo "$first" >"$dir/load/resumed"
    }
    local resumed_seconds="" result=ok
    if wait_for 60 resumed; then
        resumed_seconds="$(awk -v k="$killed_at" '{ printf "%.3f", $1 - k }' "$dir/load/resumed")"
        sleep "$after"
    fi
    touch "$dir/load/stop"
    wait "${writer_pids[@]}" || true
    if [ "$load" = authd ]; then
        cp "$dir/authd/node-1/authd.log" "$dir/logs/authd.log"
        "$root/tools/cluster/stop.sh" "$dir/authd"
    fi
    local new_port new_name
    new_port="$(primary_port || true)"
    new_name="$(member_of_port "$new_port" || echo none)"
    # Every acknowledged write must be on the new primary.
    cat "$dir"/load/acked.* | awk '{ print $1 }' | sort >"$dir/load/acknowledged"
    local lost=unknown
    if [ "$new_name" != none ] && "present_$load" "$new_port" >"$dir/load/present"; then
        lost="$(comm -23 "$dir/load/acknowledged" <(sort "$dir/load/present") | wc -l)"
    fi
    # The old primary comes back as a replica of the new one (pg_rewind when it had diverged).
    local rejoined_seconds=""
    rejoined() {
        [ "$(sql "$new_port" "select count(*) from pg_stat_replication where state = 'streaming' and application_name = '$old_name'")" = 1 ]
    }
    if [ "$new_name" != none ] && wait_for 120 rejoined; then
        rejoined_seconds="$(awk -v k="$killed_at" -v t="$(now)" 'BEGIN { printf "%.3f", t - k }')"
    fi
    # A refusal must say the service is unavailable (503 with Retry-After), never 500: the
    # client has to know it may retry.
    local server_errors
    server_errors="$(cat "$dir"/load/failed.* | awk 'NF >= 4 && $4 ~ /^5/ && $4 != "503"' | wc -l)"
    if [ "$new_name" = none ]; then
        result=no_primary
    elif [ "$lost" != 0 ]; then
        result=lost_writes
    elif [ "$server_errors" != 0 ]; then
        result=server_error
    elif [ -z "$resumed_seconds" ]; then
        result=no_resume
    elif [ -z "$rejoined_seconds" ]; then
        result=no_rejoin
    fi
    echo "failover_load=$load"
    echo "failover_killed=$old_name"
    echo "failover_new_primary=$new_name"
    echo "acknowledged_writes=$(wc -l <"$dir/load/acknowledged")"
    echo "acknowledged_writes_lost=$lost"
    echo "failed_writes=$(cat "$dir"/load/failed.* | wc -l)"
    echo "failed_writes_by_answer=$(cat "$dir"/load/failed.* | awk '
        { answer = NF >= 5 ? $4 "_" $5 : NF == 4 ? ($4 == "000" ? "no_answer" : $4) : "psql_error"; count[answer]++ }
        END { for (a in count) printf "%s%s:%d", (n++ ? "," : ""), a, count[a] }' | tr ',' '\n' | sort | paste -sd, -)"
    echo "writes_resumed_seconds=${resumed_seconds:-none}"
    echo "old_primary_rejoined_seconds=${rejoined_seconds:-none}"
    echo "failover_result=$result"
    [ "$result" = ok ]
}

stop() {
    [ -d "$dir" ] || exit 0
    local name pid
    # An authd that a failover run started and could not stop (the run was interrupted).
    [ -d "$dir/authd" ] && "$root/tools/cluster/stop.sh" "$dir/authd"
    if [ -d "$dir/pids" ]; then
        kill_recorded() {
            local signal="$1" name
            shift
            for name in "$@"; do
                if [ -f "$dir/pids/$name" ]; then
                    kill "-$signal" "$(cat "$dir/pids/$name")" 2>/dev/null || true
                fi
            done
        }
        # Patroni stops its PostgreSQL on SIGTERM; etcd goes last so that they can release their keys.
        kill_recorded TERM haproxy "${members[@]}"
        wait_for 60 none_alive haproxy "${members[@]}" || kill_recorded KILL haproxy "${members[@]}"
        # A PostgreSQL whose Patroni was killed outlives it: stop it by its own pid file, once
        # that pid is seen to be this member's postmaster (a stale file may name another process).
        for name in "${members[@]}"; do
            if [ -f "$dir/$name/data/postmaster.pid" ]; then
                pid="$(head -1 "$dir/$name/data/postmaster.pid")"
                if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-D $dir/$name/data "; then
                    "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$dir/$name/data" -m immediate -w stop >/dev/null 2>&1 || true
                fi
            fi
        done
        kill_recorded TERM etcd
        wait_for 30 none_alive etcd || kill_recorded KILL etcd
    fi
    rm -rf "$dir"
}

case "$command" in
start) start ;;
failover) failover ;;
stop) stop ;;
*) usage ;;
esac
