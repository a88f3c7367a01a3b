#!/usr/bin/env bash
# Starts a throwaway Authlog cluster: authd nodes sharing one log on PostgreSQL.
#
#   tools/cluster/start.sh DIR [NODES] [-- AUTHD_OPTION...]
#   tools/cluster/stop.sh DIR
#
# In DIR (new or empty): a throwaway PostgreSQL server (tools/postgres/start-throwaway.sh, in
# DIR/postgres) unless AUTHLOG_LOG_URL names a log already, a key-encryption key DIR/kek (0600),
# and NODES (3) authd nodes, node N with its own data directory DIR/node-N, all with
# --log-url on the one log and AUTHLOG_KEK_FILE on the one key, each on a free port of 127.0.0.1
# (--port 0; the port is read from what authd prints). AUTHD_OPTIONs go to every node.
# Nodes start one after the other, each once the one before listens. Prints `key=value` lines:
#
#   log_url=postgres://postgres@127.0.0.1:PORT/postgres
#   node=node-1 url=http://127.0.0.1:PORT data=DIR/node-1 pid=PID     (one a node)
#
# Exit 0 once every node listens; otherwise the failing node's output on stderr, everything
# started is stopped again, and exit 1 (64 for bad arguments). The authd binary is $AUTHD, or
# .build/debug/authd. stop.sh stops the nodes (SIGTERM: requests in flight finish), then the
# PostgreSQL server, and removes DIR.
set -euo pipefail

usage() {
    echo "usage: start.sh DIR [NODES] [-- AUTHD_OPTION...]" >&2
    exit 64
}
[ $# -ge 1 ] || usage
dir="$1"
shift
nodes=3
if [ $# -gt 0 ] && [ "$1" != -- ]; then
    nodes="$1"
    shift
fi
[[ "$nodes" =~ ^[1-9][0-9]*$ ]] || usage
if [ $# -gt 0 ]; then
    [ "$1" = -- ] || usage
    shift
fi
authd_options=("$@")

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=tools/await-port.sh
. "$root/tools/await-port.sh"
authd="${AUTHD:-$root/.build/debug/authd}"
[ -x "$authd" ] || {
    echo "start.sh: no authd at $authd (swift build, or set AUTHD)" >&2
    exit 1
}

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
[ -z "$(ls -A "$dir")" ] || {
    echo "start.sh: $dir is not empty" >&2
    exit 1
}
# The PostgreSQL server may run as another user (as root: postgres), who must reach DIR/postgres.
chmod 711 "$dir"

started=false
trap '$started || "$here/stop.sh" "$dir"' EXIT

log_url="${AUTHLOG_LOG_URL:-}"
if [ -z "$log_url" ]; then
    log_url="$("$root/tools/postgres/start-throwaway.sh" "$dir/postgres")"
fi
echo "$log_url" >"$dir/log-url"

# One key-encryption key for every node: each node's data keys are wrapped with it, and a node
# must unwrap what another one wrapped. 0600 from its first byte.
(
    umask 077
    python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))' >"$dir/kek"
)

echo "log_url=$log_url"
for ((n = 1; n <= nodes; n++)); do
    node="$dir/node-$n"
    mkdir -p "$node"
    chmod 700 "$node"
    # Created before authd starts: the background job may open it after the first look below.
    : >"$node/authd.log"
    env AUTHLOG_KEK_FILE="$dir/kek" AUTHLOG_LOG_URL="$log_url" \
        setsid "$authd" --data "$node/data" --host 127.0.0.1 --port 0 --log-url "$log_url" ${authd_options[@]+"${authd_options[@]}"} \
        >"$node/authd.log" 2>&1 </dev/null &
    echo $! >"$node/pid"
    # authd prints the port it was given once it listens; a node that ends first has failed.
    port="$(await_port "node-$n" "$(cat "$node/pid")" "$node/authd.log")"
    echo "$port" >"$node/port"
    echo "node=node-$n url=http://127.0.0.1:$port data=$node/data pid=$(cat "$node/pid")"
done
started=true
