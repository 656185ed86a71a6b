#!/usr/bin/env bash
# make test: builds the debug binaries and the tests, starts a fresh test
# stack under var/test, runs the Swift tests, the end-to-end tests, promtool
# on the alert rules and the deployment tests (scripts/test-deploy.sh) against
# it, and always stops it again, keeping the exit status.
#   TEST_KEEP_STACK=1  leave the test stack running afterwards, to poke at it
#   PYTEST_ARGS        extra arguments for pytest (e.g. "-k health -x")
#   TEST_STACK_DIR, TEST_PORT_OFFSET  another stack directory and ports
#   NODES              2 (default: two api pools and two ws daemons behind
#                      nginx, so the two-node tests run) or 1
#   HA                 1: the test stack runs with a PostgreSQL standby, a Redis
#                      replica and Sentinels (scripts/stack/ha.sh); default 0
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SWIFT=${SWIFT:-swift}
# Several people (or agents) can test one checkout at once, each with a stack
# of its own: TEST_STACK_DIR and TEST_PORT_OFFSET (added to every port).
TEST_PORT_OFFSET=${TEST_PORT_OFFSET:-0}
HTTP_PORT=$((28080 + TEST_PORT_OFFSET))
NODES=${NODES:-2}
HA=${HA:-0}

"$SWIFT" build --build-tests
BIN_DIR=$("$SWIFT" build --show-bin-path)

# The test stack's settings, fixed here rather than taken from the caller's
# environment: this stack is wiped on every run, so it must never be pointed
# at the dev stack. They go only to scripts/stack.sh and to the end-to-end
# tests (which call it); the Swift tests get just LEADERBOARD_ENV_FILE.
STACK_DIR=${TEST_STACK_DIR:-$PWD/var/test}
STACK_ENV=(STACK_DIR="$STACK_DIR" BIN_DIR="$BIN_DIR"
    HTTP_PORT="$HTTP_PORT" PG_PORT=$((25432 + TEST_PORT_OFFSET)) REDIS_PORT=$((26379 + TEST_PORT_OFFSET))
    WS_PORT=$((28081 + TEST_PORT_OFFSET)) BCRYPT_COST=4 AUTH_RATE=200r/s SEED_DEMO=0 NO_APP=0 NODES="$NODES" HA="$HA")
stack() { env "${STACK_ENV[@]}" scripts/stack.sh "$@"; }

# A stack left over by an interrupted run would hold the ports.
stack stop >/dev/null 2>&1 || true
rm -rf "$STACK_DIR"

# shellcheck disable=SC2317 # called by the trap
finish() {
    local status=$?
    if [[ ${TEST_KEEP_STACK:-0} == 1 ]]; then
        echo "test: the test stack keeps running; stop it with: env ${STACK_ENV[*]} scripts/stack.sh stop"
    else
        stack stop || true
    fi
    exit "$status"
}
trap finish EXIT
# Turn INT/TERM into an exit, so that the EXIT trap stops the stack.
trap 'exit 130' INT
trap 'exit 143' TERM

stack start

export LEADERBOARD_ENV_FILE="$STACK_DIR/leaderboard.env"

# Run every part even if one fails: one run shows every failure. The timeouts only stop a hung run
# from holding CI for hours. The parts that failed are named last, where CI's tail shows them.
failed=()
SWIFT_LOG="$STACK_DIR/swift-test.log" E2E_LOG="$STACK_DIR/e2e.log"
timeout --kill-after=30 1200 "$SWIFT" test --skip-build 2>&1 | tee "$SWIFT_LOG" || failed+=("swift test")
# shellcheck disable=SC2086 # PYTEST_ARGS is a list of words on purpose
env "${STACK_ENV[@]}" E2E_BASE_URL="http://127.0.0.1:$HTTP_PORT" PYTHONDONTWRITEBYTECODE=1 \
    timeout --kill-after=30 900 python3 -m pytest -q -p no:cacheprovider -rfE Tests/e2e ${PYTEST_ARGS:-} 2>&1 | tee "$E2E_LOG" || failed+=("end-to-end tests")
# The alert rules and the Prometheus config beside them, and the rules' own cases (deploy/prometheus).
promtool check rules deploy/prometheus/alerts.yml || failed+=("promtool check rules")
promtool check config deploy/prometheus/prometheus.yml || failed+=("promtool check config")
promtool test rules deploy/prometheus/alerts.test.yml || failed+=("promtool test rules")
# The production files as installed (builds the static release binaries once),
# against this stack's PostgreSQL and Redis.
env "${STACK_ENV[@]}" TEST_PORT_OFFSET="$TEST_PORT_OFFSET" SWIFT="$SWIFT" \
    timeout --kill-after=30 900 scripts/test-deploy.sh || failed+=("deployment tests")
if ((${#failed[@]} > 0)); then
    grep -h -E '✘ Test .*(failed|recorded an issue)|^(FAILED|ERROR) ' "$SWIFT_LOG" "$E2E_LOG" | cut -c1-300 | head -n 12 || true
    printf 'test: FAILED: %s\n' "${failed[@]}"
    exit 1
fi
