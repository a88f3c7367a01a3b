#!/usr/bin/env bash
# Authlog's one entry point for people and CI.
#
#   ./build.sh run     build and start authd on 127.0.0.1:8080 with data in ./data (Ctrl-C stops it)
#   ./build.sh test    lint, build, run every test (with a throwaway PostgreSQL server for the
#                      PostgreSQL log's), then check the API against docs/openapi.yaml with
#                      schemathesis, then the failover scenario on a Patroni cluster
#                      (tools/cluster/patroni.sh), then fuzz each parser for 20 s (what CI runs;
#                      tools/fuzz/run.sh for longer runs)
#   ./build.sh bench   build in release mode and run the benchmarks (see docs/performance.md)
#
# Each installs the Debian packages the build needs when they are missing.
set -euo pipefail
cd "$(dirname "$0")"

packages=(liblmdb-dev libssl-dev libargon2-dev libcurl4-openssl-dev libjemalloc-dev pkg-config curl strace)

ensure_packages() {
    local missing=()
    for package in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "build.sh: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

sources=(Package.swift Sources Tests tools projections)

case "${1:-}" in
run)
    ensure_packages
    swift build -c release --product authd
    swift build -c release --product authctl
    data="${AUTHLOG_DATA:-./data}"
    .build/release/authctl --data "$data" init
    .build/release/authctl --data "$data" verify
    exec .build/release/authd --host "${AUTHLOG_HOST:-127.0.0.1}" --port "${AUTHLOG_PORT:-8080}" --data "$data"
    ;;
test)
    # chromium and chromium-driver: the admin console's browser test (tools/console/browser-test.py);
    # python3-venv: the tests' Python tools run in a virtual environment of their own.
    packages+=(postgresql patroni etcd-server haproxy openssl chromium chromium-driver python3-venv)
    ensure_packages
    # The tests' Python tools and what they import: the mail tests' SMTP server on loopback,
    # PyJWT checking authd's tokens as an independent implementation, selenium driving headless
    # Chromium, schemathesis (tools/python-tools.sh). Every python3 the tests start is its.
    PATH="$(tools/python-tools.sh):$PATH"
    PYTHONNOUSERSITE=1
    export PATH PYTHONNOUSERSITE
    swift format lint --strict --recursive "${sources[@]}"
    swift build --build-tests
    # The PostgreSQL log's tests need a server: a throwaway one, removed when this ends.
    # AUTHLOG_REQUIRE_POSTGRES makes a missing server a failure rather than a skip.
    postgres_dir="$(mktemp -d)"
    chmod 755 "$postgres_dir"
    trap 'tools/cluster/patroni.sh "$postgres_dir/patroni" stop; tools/postgres/stop-throwaway.sh "$postgres_dir/cluster"; rm -rf "$postgres_dir"' EXIT
    AUTHLOG_TEST_POSTGRES_URL="$(tools/postgres/start-throwaway.sh "$postgres_dir/cluster")"
    export AUTHLOG_TEST_POSTGRES_URL AUTHLOG_REQUIRE_POSTGRES=1
    swift test --parallel
    tools/api-check.sh
    # The failover scenario (docs/operations.md): authd's writes go on while a Patroni cluster's
    # primary is killed; it fails unless every acknowledged write is on the new primary.
    tools/cluster/patroni.sh "$postgres_dir/patroni" start >/dev/null
    tools/cluster/patroni.sh "$postgres_dir/patroni" failover
    tools/fuzz/run.sh all 20
    ;;
bench)
    ensure_packages
    swift build -c release --product eventlog-bench
    .build/release/eventlog-bench "${@:2}"
    ;;
*)
    echo "usage: ./build.sh run | test | bench [EVENTS]" >&2
    exit 64
    ;;
esac
