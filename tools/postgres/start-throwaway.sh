#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for tests and benchmarks, and prints its URL.
#
#   tools/postgres/start-throwaway.sh DIR    creates a cluster in DIR (new or empty), starts it on
#                                            a free port of 127.0.0.1, prints postgres://postgres@127.0.0.1:PORT/postgres
#   tools/postgres/stop-throwaway.sh DIR     stops it and removes DIR
#
# The cluster trusts every connection (it listens on loopback only, its socket sits in DIR),
# keeps fsync and synchronous_commit on (appends are measured durable), and allows enough
# connections for the test suite run in parallel. PostgreSQL refuses to run as root: as root
# the cluster belongs to the `postgres` user that Debian's package creates.
# Needs Debian's `postgresql` package (build.sh installs it) or PostgreSQL's binaries on PATH.
set -euo pipefail

dir="${1:?usage: start-throwaway.sh DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
if [ -n "$(ls -A "$dir")" ]; then
    echo "start-throwaway.sh: $dir is not empty" >&2
    exit 1
fi

bin=""
for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/pg_ctl" ]; then
        bin="$candidate"
        break
    fi
done
if [ -z "$bin" ]; then
    command -v pg_ctl >/dev/null || {
        echo "start-throwaway.sh: no PostgreSQL server found (apt-get install postgresql)" >&2
        exit 1
    }
    bin="$(dirname "$(command -v pg_ctl)")"
fi

as_owner=()
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || {
        echo "start-throwaway.sh: running as root needs the postgres user (apt-get install postgresql)" >&2
        exit 1
    }
    chown postgres: "$dir"
    as_owner=(runuser -u postgres --)
    "${as_owner[@]}" test -w "$dir" || {
        echo "start-throwaway.sh: the postgres user cannot reach $dir (make its parents searchable: chmod o+x)" >&2
        exit 1
    }
fi

"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
}

# A free port, chosen by the kernel; another program may take it before the server binds,
# so a failed start is tried again on another one.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    if "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 -c synchronous_commit=on -c fsync=on" \
        >/dev/null 2>&1; then
        echo "postgres://postgres@127.0.0.1:$port/postgres"
        exit 0
    fi
done
echo "start-throwaway.sh: the server did not start; its log:" >&2
cat "$dir/server.log" >&2
exit 1
