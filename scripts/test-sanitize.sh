#!/usr/bin/env bash
# make test-sanitize: the code under the sanitizers, against a test stack of its own.
#
#   1. The Swift unit and integration tests built and run with --sanitize=address (scratch path
#      .build-asan), then with --sanitize=thread (.build-tsan).
#   2. The stack's api pools and ws daemons are the ThreadSanitizer build, and serve a subset of the
#      end-to-end tests (SANITIZE_E2E) through nginx.
#
# Every sanitizer report is fatal: TSAN_OPTIONS/ASAN_OPTIONS make the process stop with exit status
# 66 at the first one (a test run fails; a daemon dies, its supervisor logs the status and restarts
# it), and at the end any report or status 66 in a daemon's log fails the run.
#   SANITIZE_STACK_DIR, SANITIZE_PORT_OFFSET   another stack directory and ports (var/sanitize, 200)
#   SANITIZE_E2E    the end-to-end test files (default: auth, scores, websocket, fastcgi_pool)
#   SANITIZE_ONLY   address or thread: one sanitizer only (the e2e part needs thread)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SWIFT=${SWIFT:-swift}
OFFSET=${SANITIZE_PORT_OFFSET:-200}
STACK_DIR=${SANITIZE_STACK_DIR:-$PWD/var/sanitize}
E2E=${SANITIZE_E2E:-Tests/e2e/test_auth.py Tests/e2e/test_scores.py Tests/e2e/test_websocket.py Tests/e2e/test_fastcgi_pool.py}
ONLY=${SANITIZE_ONLY:-}
HTTP_PORT=$((28080 + OFFSET))

export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 history_size=4"
export ASAN_OPTIONS="halt_on_error=1 exitcode=66 detect_leaks=0"
# The marks of a report in a log.
REPORT='WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:|exited with status 66'

timed() {
    local started=$SECONDS status=0
    "$@" || status=$?
    echo "sanitize: $((SECONDS - started)) s: $*"
    return "$status"
}

sanitizers=(address thread)
[[ -n $ONLY ]] && sanitizers=("$ONLY")
for sanitizer in "${sanitizers[@]}"; do
    [[ $sanitizer == address ]] && scratch=.build-asan || scratch=.build-tsan
    timed "$SWIFT" build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
done

# The daemons of the stack: the ThreadSanitizer build when there is one.
if [[ " ${sanitizers[*]} " == *" thread "* ]]; then
    BIN_DIR=$("$SWIFT" build --sanitize=thread --scratch-path .build-tsan --show-bin-path)
else
    BIN_DIR=$("$SWIFT" build --sanitize=address --scratch-path .build-asan --show-bin-path)
fi
STACK_ENV=(STACK_DIR="$STACK_DIR" BIN_DIR="$BIN_DIR"
    HTTP_PORT="$HTTP_PORT" PG_PORT=$((25432 + OFFSET)) REDIS_PORT=$((26379 + OFFSET))
    WS_PORT=$((28081 + OFFSET)) BCRYPT_COST=4 AUTH_RATE=200r/s SEED_DEMO=0 NO_APP=0 NODES=2
    READY_TIMEOUT=60)
stack() { env "${STACK_ENV[@]}" scripts/stack.sh "$@"; }

stack stop >/dev/null 2>&1 || true
rm -rf "$STACK_DIR"
# shellcheck disable=SC2317 # called by the trap
finish() {
    local status=$?
    stack stop >/dev/null || true
    exit "$status"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stack start
export LEADERBOARD_ENV_FILE="$STACK_DIR/leaderboard.env"

failed=0
for sanitizer in "${sanitizers[@]}"; do
    [[ $sanitizer == address ]] && scratch=.build-asan || scratch=.build-tsan
    echo "sanitize: the Swift tests under --sanitize=$sanitizer"
    timed timeout --kill-after=30 1200 "$SWIFT" test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch" || failed=1
done

if [[ " ${sanitizers[*]} " == *" thread "* ]]; then
    echo "sanitize: end-to-end tests against the ThreadSanitizer daemons: $E2E"
    # shellcheck disable=SC2086 # E2E is a list of files
    timed env "${STACK_ENV[@]}" E2E_BASE_URL="http://127.0.0.1:$HTTP_PORT" PYTHONDONTWRITEBYTECODE=1 \
        timeout --kill-after=30 1200 python3 -m pytest -q -p no:cacheprovider $E2E ${PYTEST_ARGS:-} || failed=1
fi

# A report that killed a daemon shows as its exit status 66 in the supervisor's lines; any report,
# fatal or not, shows as the sanitizer's own banner.
if grep -E -n "$REPORT" "$STACK_DIR"/log/{api,api2,ws,ws2}.log; then
    echo "sanitize: sanitizer reports in the daemons' logs (above; the full reports are in $STACK_DIR/log)" >&2
    grep -E -h -A40 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer' "$STACK_DIR"/log/{api,api2,ws,ws2}.log | head -200 >&2 || true
    failed=1
else
    echo "sanitize: no sanitizer report in the daemons' logs"
fi
exit "$failed"
