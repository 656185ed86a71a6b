#!/usr/bin/env bash
# make fuzz: libFuzzer on the parsers that read bytes straight from clients, for a bounded time.
#
#   fuzz-json   request bodies and WebSocket messages: JSONFields.parse (over JSONParser)
#               and its accessors (Sources/FuzzTargets)
#   fuzz-jwt    JWTSigner.verify on raw tokens and on signed tokens around fuzzed claims, and the
#               sign/verify round trip
#
# Built in release with -sanitize=fuzzer,address (scratch path .build-fuzz, linked by lld: ld.gold
# crashes on the fuzzer objects), with LEADERBOARD_FUZZ=1 so that Package.swift declares the
# executables at all. Each runs FUZZ_SECONDS (60) from the seed corpus in Tests/fuzz/corpus/<target>;
# what it learns goes to var/fuzz/<target>/corpus, not into the repository. A crash leaves its input
# in var/fuzz/<target>/ and fails the run: copy it into Tests/fuzz/crashes/<target>/ (the regression
# tests in make test run every file there), fix the bug, and commit both.
#   FUZZ_SECONDS    seconds per target (60)
#   FUZZ_TARGETS    which targets (json jwt)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SWIFT=${SWIFT:-swift}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=${FUZZ_TARGETS:-json jwt}
export LEADERBOARD_FUZZ=1
BUILD=("$SWIFT" build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld)

started=$SECONDS
for target in $FUZZ_TARGETS; do
    "${BUILD[@]}" --product "fuzz-$target"
done
echo "fuzz: built in $((SECONDS - started)) s"
BIN_DIR=$("${BUILD[@]}" --show-bin-path)

failed=0
for target in $FUZZ_TARGETS; do
    work=var/fuzz/$target
    mkdir -p "$work/corpus"
    echo "fuzz: fuzz-$target for $FUZZ_SECONDS s"
    # -timeout: one input taking over 10 s is a finding too (a hang); -rss_limit_mb bounds memory.
    if ! ASAN_OPTIONS="detect_leaks=0" "$BIN_DIR/fuzz-$target" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "Tests/fuzz/corpus/$target" 2>"$work/log"; then
        failed=1
        tail -n 60 "$work/log" >&2
        echo "fuzz: fuzz-$target found a crash: $(ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | tr '\n' ' ')" >&2
        echo "fuzz: copy it into Tests/fuzz/crashes/$target/ (a regression test), fix the bug, commit both" >&2
    else
        grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$work/log" | tr '\n' ' '
        echo
    fi
done
echo "fuzz: $((SECONDS - started)) s in all"
exit "$failed"
