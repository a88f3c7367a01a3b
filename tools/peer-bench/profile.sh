#!/usr/bin/env bash
# Where authd's time goes, for reads by id and durable refresh rotations:
#
#   1. instruction counts, which a shared host's noise does not move: authd runs under
#      `valgrind --tool=callgrind` with instrumentation off, and it is switched on only around
#      REQUESTS reads (GET /v1/users/{id}, each user reading themselves), then around REQUESTS
#      rotations (POST /v1/sessions/refresh), each sent by tools/peer-bench/requests.py over
#      CONNECTIONS kept-alive connections; each part is dumped on its own. Valgrind runs a
#      copy of authd without its DWARF 5 debug information (which valgrind 3.19 cannot read);
#      should it fail, the script says so and goes on with perf alone. Valgrind 3.19 hides the
#      SHA and ADX extensions from the program, so crypto runs its code without them there
#      (SHA-256 without SHA-NI, BoringSSL's Ed25519 signing without its ADX routines): its
#      counts overstate what that code costs natively;
#   2. where the CPU goes under load (when perf is installed): `perf record -g` on authd,
#      not under valgrind, while wrk drives it as tools/peer-bench/run.sh does (2 threads,
#      64 connections, tools/cluster/read.lua and refresh.lua) for PERF_SECONDS each.
#
#   tools/peer-bench/profile.sh [REQUESTS [CONNECTIONS]]       (default 2000 requests, 8 connections)
#
# Prints instructions per request and the top functions of each part (inclusive and self,
# names demangled); everything is kept in OUT (default: a new temporary directory, printed):
# callgrind.out.* (for callgrind_annotate or KCachegrind), *-inclusive.txt, *-self.txt,
# perf-*.data, perf-*.txt (self time) and perf-*-inclusive.txt.
# Environment: AUTHD (the binary; default: a release build, built here), OUT, PERF_SECONDS (8;
# 0 skips perf), BY_THREAD (1: callgrind counts each thread apart, and each part is printed
# per thread as well: instructions per request and the thread's top functions, which tell an
# event loop from the concurrency pool or the log writer). Installs valgrind (and linux-perf,
# wrk) when missing. Stops the authd it started when it ends, also on Ctrl-C.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/../.."
root="$(pwd)"
requests="${1:-2000}"
connections="${2:-8}"
perf_seconds="${PERF_SECONDS:-8}"
by_thread="${BY_THREAD:-0}"
users=64
sessions=192 # more than the connections: tokens in flight when wrk stops are lost
((connections <= users)) || {
    echo "profile.sh: at most $users connections" >&2
    exit 64
}

needed=()
command -v valgrind >/dev/null || needed+=(valgrind)
command -v wrk >/dev/null || needed+=(wrk)
((perf_seconds == 0)) || command -v perf >/dev/null || needed+=(linux-perf)
if [ ${#needed[@]} -gt 0 ]; then
    echo "== installing ${needed[*]}" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
fi
if [ -n "${AUTHD:-}" ]; then
    authd="$AUTHD"
else
    swift build -c release --product authd >/dev/null
    authd="$root/.build/release/authd"
fi
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

umask 077 # the work directory holds a key-encryption key and live tokens
work="$(mktemp -d)"
# shellcheck source=tools/peer-bench/authd.sh
. "$root/tools/peer-bench/authd.sh"
cleanup() {
    stop authd
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
demangle() { swift demangle --simplified 2>/dev/null || cat; }
# The first COUNT lines of FILE that match PATTERN (no pipe to head: pipefail would see SIGPIPE).
top() { awk -v n="$1" -v p="$2" '$0 ~ p && n-- > 0' "$3"; }
# The instructions a callgrind file counted (0 when it says none).
totals() { sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$1" | awk 'NR == 1 { t = $1 } END { print t + 0 }'; }

echo "== $authd ($(file -b "$authd" | grep -o 'with debug_info' || echo 'no debug info')); output in $out"
make_kek
port="$(start_authd authd "$authd")"
echo "== setting up $sessions users with a session each ($users of them read)"
set_up_users authd "$port"
stop authd

# Counts the instructions of REQUESTS reads, then of REQUESTS rotations, on the authd under
# callgrind; prints them per request with the top functions.
count_instructions() {
    local pid kind file result dump instructions
    pid="$(cat "$work/authd.pid")"
    python3 tools/peer-bench/requests.py read "$port" "$work/authd.users" 200 "$connections" >/dev/null
    python3 tools/peer-bench/requests.py rotate "$port" "$work/authd.tokens" 200 "$connections" >/dev/null
    for kind in read rotate; do
        file="$work/authd.users"
        [ "$kind" = rotate ] && file="$work/authd.tokens"
        callgrind_control -z "$pid" >/dev/null
        callgrind_control -i on "$pid" >/dev/null
        result="$(python3 tools/peer-bench/requests.py "$kind" "$port" "$file" "$requests" "$connections")"
        callgrind_control -i off "$pid" >/dev/null
        ls "$out"/callgrind.out."$pid".* >"$work/dumps" 2>/dev/null || true
        callgrind_control -d "$kind" "$pid" >/dev/null
        # One file a dump, or one a thread (callgrind.out.PID.N-THREAD) with BY_THREAD=1.
        # Done when every new file has its totals and no file came in the last tenth of a second.
        local complete previous=-1
        dumps=()
        for _ in $(seq 300); do
            mapfile -t dumps < <(ls "$out"/callgrind.out."$pid".* 2>/dev/null | grep -vxF -f "$work/dumps" || true)
            complete=0
            for dump in "${dumps[@]}"; do grep -q '^totals:' "$dump" && complete=$((complete + 1)); done
            ((${#dumps[@]} > 0 && complete == ${#dumps[@]} && complete == previous)) && break
            previous=$complete
            sleep 0.1
        done
        # `totals:` holds the count of a dump taken with instrumentation switched on and off
        # (its `summary:` line says 0 then).
        instructions=0
        for dump in "${dumps[@]}"; do instructions=$((instructions + $(totals "$dump"))); done
        if [ "$by_thread" = 1 ]; then
            echo "-- $kind by thread (threads without a request's work left out):"
            for dump in "${dumps[@]}"; do
                local count
                count="$(totals "$dump")"
                ((count / requests >= 100)) || continue
                callgrind_annotate "$dump" 2>/dev/null | demangle >"$out/$kind-thread-${dump##*-}-self.txt"
                echo "   thread ${dump##*-}: $((count / requests)) instructions a request; top self:"
                top 4 '^ *[0-9,]+ ' "$out/$kind-thread-${dump##*-}-self.txt" | tail -3 | cut -c1-150 | sed 's/^/     /'
            done
            echo "-- below: the busiest thread's functions"
            dump="$(for d in "${dumps[@]}"; do echo "$(totals "$d") $d"; done | sort -rn | awk 'NR == 1 { print $2 }')"
        else
            dump="${dumps[0]}"
        fi
        callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | demangle >"$out/$kind-inclusive.txt"
        callgrind_annotate "$dump" 2>/dev/null | demangle >"$out/$kind-self.txt"
        echo "== $kind: $result; $instructions instructions, $((instructions / requests)) per request ($dump)"
        echo "-- top inclusive ($out/$kind-inclusive.txt):"
        top 30 '^ *[0-9,]+ ' "$out/$kind-inclusive.txt"
        echo "-- top self ($out/$kind-self.txt):"
        top 20 '^ *[0-9,]+ ' "$out/$kind-self.txt"
    done
}

# 1. Instruction counts. The same data directory, now under callgrind; a few requests first
# with instrumentation off, so that lazily made state (caches, pools, connections) is there.
# Valgrind 3.19 (Debian 12) gives up on the DWARF 5 the toolchain's C code carries: it runs a
# copy without debug information (the symbol table stays, so functions keep their names).
echo "== callgrind: starting authd under valgrind (slow)"
objcopy --strip-debug "$authd" "$work/authd-symbols-only"
separate=no
[ "$by_thread" = 1 ] && separate=yes
if port="$(start_authd authd "$work/authd-symbols-only" valgrind --tool=callgrind --instr-atstart=no \
    --separate-threads="$separate" --callgrind-out-file="$out/callgrind.out.%p" 2>/dev/null)"; then
    count_instructions
else
    # Valgrind 3.19 (Debian 12) crashes inside itself (SIGSEGV, even with --tool=none) on a
    # Swift 6 program whose main is async (authd's is not, for this reason): then only perf
    # measures.
    cp "$work/authd.log" "$out/valgrind.log"
    echo "== callgrind: authd did not start under valgrind ($out/valgrind.log); no instruction counts"
fi
stop authd

# 2. perf under load.
if ((perf_seconds > 0)); then
    port="$(start_authd authd "$authd")"
    pid="$(cat "$work/authd.pid")"
    for kind in read rotate; do
        perf record -g -o "$out/perf-$kind.data" -p "$pid" -- sleep "$perf_seconds" >/dev/null 2>&1 &
        recorder=$!
        if [ "$kind" = read ]; then
            USER_FILE="$work/authd.users" PACE_MS= wrk -t2 -c64 -d"${perf_seconds}s" -s tools/cluster/read.lua \
                "http://127.0.0.1:$port" | grep '^RESULT' || true
        else
            PORTS="$port" THREADS=2 TOKENS="$work/authd.tokens" wrk -t2 -c64 -d"${perf_seconds}s" \
                -s tools/cluster/refresh.lua "http://127.0.0.1:$port" | grep '^RESULT' || true
        fi
        wait "$recorder" || true
        perf report -i "$out/perf-$kind.data" --stdio --no-children --sort dso,symbol 2>/dev/null | demangle \
            >"$out/perf-$kind.txt"
        # Inclusive: each function with everything it calls (frame-pointer call graphs).
        perf report -i "$out/perf-$kind.data" --stdio --children --sort symbol -g none 2>/dev/null | demangle \
            >"$out/perf-$kind-inclusive.txt"
        echo "-- perf $kind, self time by function ($out/perf-$kind.txt):"
        top 25 '^ +[0-9.]+%' "$out/perf-$kind.txt"
        echo "-- perf $kind, inclusive time by function ($out/perf-$kind-inclusive.txt):"
        top 60 '^ +[0-9.]+%' "$out/perf-$kind-inclusive.txt"
    done
fi
