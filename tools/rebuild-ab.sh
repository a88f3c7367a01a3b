#!/usr/bin/env bash
# Rebuild benchmark that alternates builds, so that a shared host's slow minutes fall on all
# of them alike. Each run reads the log and key files into the page cache first, then runs
# `authctl rebuild` and prints its report with the process's user and system time.
#
# Usage: tools/rebuild-ab.sh DATA_DIRECTORY ROUNDS AUTHCTL_BINARY...
# Example: tools/rebuild-ab.sh /tmp/seed 5 /tmp/authctl.before .build/release/authctl
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 DATA_DIRECTORY ROUNDS AUTHCTL_BINARY..." >&2; exit 64; }
data=$1 rounds=$2
shift 2
for round in $(seq "$rounds"); do
  for binary in "$@"; do
    cat "$data/data.mdb" "$data/keys" > /dev/null
    report=$( { /usr/bin/time -f "cpu user %U s, system %S s" "$binary" --data "$data" rebuild 2>&1; } 2>&1 \
      | grep -E "^rebuilt|^cpu" | tr '\n' ' ')
    echo "round $round $binary: $report"
  done
done
