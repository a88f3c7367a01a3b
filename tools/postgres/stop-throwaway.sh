#!/usr/bin/env bash
# Stops a server that start-throwaway.sh started in DIR and removes DIR with its data.
set -euo pipefail

dir="${1:?usage: stop-throwaway.sh DIR}"
[ -d "$dir" ] || exit 0
if [ -f "$dir/data/postmaster.pid" ]; then
    bin=""
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$candidate/pg_ctl" ] && bin="$candidate" && break
    done
    [ -z "$bin" ] && bin="$(dirname "$(command -v pg_ctl)")"
    as_owner=()
    [ "$(id -u)" -eq 0 ] && as_owner=(runuser -u postgres --)
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
fi
rm -rf "$dir"
