#!/usr/bin/env bash
# Restarts a throwaway PostgreSQL server that start-throwaway.sh started, on the same port.
#
#   tools/postgres/restart-throwaway.sh DIR [immediate|fast]
#
# `immediate` (the default) stops it as a crash would: no shutdown checkpoint, every open
# connection cut, recovery from the write-ahead log at the next start. `fast` shuts it down
# cleanly first. The cluster tests use it to restart the server under load.
set -euo pipefail

dir="${1:?usage: restart-throwaway.sh DIR [immediate|fast]}"
mode="${2:-immediate}"
case "$mode" in immediate | fast) ;; *)
    echo "restart-throwaway.sh: the mode is immediate or fast, not $mode" >&2
    exit 64
    ;;
esac
[ -f "$dir/data/postmaster.pid" ] || {
    echo "restart-throwaway.sh: no server runs in $dir" >&2
    exit 1
}
bin=""
for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$candidate/pg_ctl" ] && bin="$candidate" && break
done
[ -z "$bin" ] && bin="$(dirname "$(command -v pg_ctl)")"
as_owner=()
[ "$(id -u)" -eq 0 ] && as_owner=(runuser -u postgres --)
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m "$mode" -w -t 60 restart >/dev/null
