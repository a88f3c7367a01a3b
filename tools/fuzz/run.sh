#!/usr/bin/env bash
# Builds the fuzz targets for libFuzzer (with the address sanitizer) and runs them.
#
#   tools/fuzz/run.sh TARGET|all SECONDS [libFuzzer options...]
#                                       run each target for SECONDS on a fresh copy of its
#                                       committed corpus (tools/fuzz/corpus/TARGET)
#   tools/fuzz/run.sh seeds             write the seed corpus again from the code (files of
#                                       other names, such as found inputs, are kept)
#
# Targets: payload envelope export-line strict-json phc tokens jwt free-list (tools/fuzz/targets).
# The build goes to .build-fuzz (git-ignored); the corpus the run grows, its log and any
# crash input go to a temporary directory, so the committed corpus is never modified. On a
# crash, hang or out-of-memory the script stops, names the input and exits 1: reproduce it
# with `swift build --product authlog-fuzz && .build/debug/authlog-fuzz TARGET INPUT`, then
# add a regression test under Tests/ and the input to the corpus.
#
# CI (./build.sh test) runs `tools/fuzz/run.sh all 20`; a longer hunt, one target at a time:
#   tools/fuzz/run.sh export-line 600 -jobs=1
set -euo pipefail
cd "$(dirname "$0")/../.."

targets=(payload envelope export-line strict-json phc tokens jwt free-list)
corpus=tools/fuzz/corpus

if [ "${1:-}" = seeds ]; then
    swift build --product authlog-fuzz
    "$(swift build --show-bin-path)/authlog-fuzz" seeds "$corpus" Tests/Golden/export-v2/export.jsonl
    exit 0
fi
if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
    echo "usage: tools/fuzz/run.sh TARGET|all SECONDS [libFuzzer options...] | seeds" >&2
    exit 64
fi
selected=("$1")
[ "$1" = all ] && selected=("${targets[@]}")
seconds=$2
shift 2
for target in "${selected[@]}"; do
    [ -d "$corpus/$target" ] || { echo "run.sh: no target $target (${targets[*]})" >&2; exit 64; }
done

# -sanitize=fuzzer instruments every module of the product and links libFuzzer; the product's
# main hands the target to LLVMFuzzerRunDriver under -DFUZZING. The toolchain's lld links it
# (gold fails on the sanitizer runtimes).
build=(swift build --scratch-path .build-fuzz -c release --product authlog-fuzz
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld)
"${build[@]}"
binary="$("${build[@]}" --show-bin-path)/authlog-fuzz"

work="$(mktemp -d "${TMPDIR:-/tmp}/authlog-fuzz.XXXXXX")"
printf '%-12s %10s %12s %8s %14s\n' target seconds executions exec/s "corpus (files)"
for target in "${selected[@]}"; do
    mkdir -p "$work/$target/artifacts"
    cp -r "$corpus/$target" "$work/$target/corpus"
    before=$(find "$corpus/$target" -type f | wc -l)
    # libFuzzer reports the crash; the Swift runtime's backtrace would only slow it down.
    if ! SWIFT_BACKTRACE=enable=no "$binary" "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$target/artifacts/" "$@" "$work/$target/corpus" \
        >"$work/$target/log" 2>&1; then
        tail -n 40 "$work/$target/log" >&2
        echo "run.sh: $target failed; input and log in $work/$target" >&2
        exit 1
    fi
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target/log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$target/log")
    after=$(find "$work/$target/corpus" -type f | wc -l)
    printf '%-12s %10s %12s %8s %14s\n' "$target" "$seconds" "$executions" "$rate" "$before -> $after"
done
rm -rf "$work"
