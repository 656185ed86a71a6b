#!/usr/bin/env bash
# The dev/test stack: a private PostgreSQL, Redis, leaderboard-api,
# leaderboard-ws and nginx, all under $STACK_DIR and on 127.0.0.1 only.
#
#   scripts/stack.sh start|stop|status|logs [NAME]
#   scripts/stack.sh start-service|stop-service|kill-service NAME
#   scripts/stack.sh promote-standby     (HA=1: pg_ctl promote postgres2, as Patroni would)
#
# NAME is one of: postgres redis api api2 ws ws2 nginx (api2, ws2: NODES=2),
# and with HA=1 postgres2 redis2 sentinel1 sentinel2 sentinel3 (and redis3: REDIS_REPLICAS=2).
# kill-service sends SIGKILL to the real process (for the api and ws daemons
# the supervisor then restarts it).
#
# Settings come from the environment (defaults are the dev stack's; make test
# passes the test stack's). Relative paths are taken from the checkout.
#   STACK_DIR   var/dev          BIN_DIR     .build/release
#   HTTP_PORT   8080             PG_PORT     15432
#   REDIS_PORT  16379            WS_PORT     18081
#   AUTH_RATE   20r/s            BCRYPT_COST 12 (only used when the env file is first written)
#   SEED_DEMO   0 (1: seed demo data once)
#   NODES       1 (2: also a second api pool, api2, on $STACK_DIR/run/api2.sock
#               and a second ws daemon, ws2, on WS_PORT+1, both supervised;
#               nginx balances over both nodes and routes around a dead one)
#   NO_APP      0 (1: only postgres, redis and nginx, e.g. to run the api from a debugger)
#   HA          0 (1: also a synchronous PostgreSQL standby, a Redis replica and three
#               Sentinels on PG_PORT+1 and REDIS_PORT+1..+4, and two nodes: see stack/ha.sh)
#   READ_REPLICAS 0 (1, with HA=1: the env file says REDIS_READ_REPLICAS=true when first written)
#   REDIS_REPLICAS 1 (2, with HA=1: a second Redis replica, redis3, on REDIS_PORT+5; the stack keeps it)
# node 1's api also takes UDP on WS_PORT+2, where nginx sends its refusals to be counted.
#   READY_TIMEOUT 30 (seconds to wait for each component to become ready)
# Ports stay below 32768, the ephemeral range (see PITFALLS.md).
#
# The daemons read $STACK_DIR/leaderboard.env (via LEADERBOARD_ENV_FILE) and
# start with an otherwise clean environment, so what that file says is what
# runs; only node 2's daemons get their own API_LISTEN or WS_LISTEN on top,
# node 1's api NGINX_REFUSALS_LISTEN, and TSAN_OPTIONS, ASAN_OPTIONS,
# UBSAN_OPTIONS, LSAN_OPTIONS when set (for a sanitizer build in BIN_DIR).
#
# The components live in scripts/stack/ (postgres.sh, redis.sh, app.sh with
# the api and ws daemons, nginx.sh), sourced below like scripts/processes.sh.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT="$REPO_ROOT/scripts/stack.sh"

absolute() {
    local path=${1%/}
    case $path in
    /*) printf '%s\n' "$path" ;;
    *) printf '%s\n' "$REPO_ROOT/$path" ;;
    esac
}

STACK_DIR=$(absolute "${STACK_DIR:-var/dev}")
BIN_DIR=$(absolute "${BIN_DIR:-.build/release}")
HTTP_PORT=${HTTP_PORT:-8080}
PG_PORT=${PG_PORT:-15432}
REDIS_PORT=${REDIS_PORT:-16379}
WS_PORT=${WS_PORT:-18081}
AUTH_RATE=${AUTH_RATE:-20r/s}
BCRYPT_COST=${BCRYPT_COST:-12}
SEED_DEMO=${SEED_DEMO:-0}
NO_APP=${NO_APP:-0}
NODES=${NODES:-1}
HA=${HA:-0}
READ_REPLICAS=${READ_REPLICAS:-0}
REDIS_REPLICAS=${REDIS_REPLICAS:-1}
READY_TIMEOUT=${READY_TIMEOUT:-30}

RUN="$STACK_DIR/run"
LOG="$STACK_DIR/log"
PG_DATA="$STACK_DIR/pg"
PG_SOCKET_DIR="$RUN/pg"
ENV_FILE="$STACK_DIR/leaderboard.env"
API_SOCKET="$RUN/api.sock"
# Redis listens on this unix socket too (and PostgreSQL in PG_SOCKET_DIR): new env files point the
# daemons there, which costs less than loopback TCP; tools and tests can use either.
REDIS_SOCKET="$RUN/redis.sock"
API2_SOCKET="$RUN/api2.sock"
WS2_PORT='' # WS_PORT + 1, once check_settings has seen a number
REFUSALS_PORT='' # WS_PORT + 2 (UDP): node 1's api counts nginx's refusals there
NGINX=${NGINX:-/usr/sbin/nginx}
SERVICES=(postgres redis api api2 ws ws2 nginx)

say() { printf 'stack: %s\n' "$*"; }
warn() { printf 'stack: warning: %s\n' "$*" >&2; }
die() {
    printf 'stack: error: %s\n' "$*" >&2
    exit 1
}

# --- processes -------------------------------------------------------------

# alive, gone, wait_for
# shellcheck source=scripts/processes.sh
source "$REPO_ROOT/scripts/processes.sh"

# Prints the pid in FILE if that process is alive and its command line
# contains PATTERN; a stale pid file (say, after a reboot) must not count.
live_pid() {
    local file=$1 pattern=$2 pid cmdline
    [[ -r $file ]] || return 1
    read -r pid <"$file" 2>/dev/null || return 1
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"$pattern"* ]] || return 1
    printf '%s\n' "$pid"
}

# Waits up to TIMEOUT seconds for PID to exit.
wait_gone() { wait_for "$2" gone "$1"; }

# --- checks ----------------------------------------------------------------

check_settings() {
    local name
    for name in HTTP_PORT PG_PORT REDIS_PORT WS_PORT BCRYPT_COST READY_TIMEOUT; do
        [[ ${!name} =~ ^[0-9]+$ ]] || die "$name must be a number, got '${!name}'"
    done
    [[ $NODES == [12] ]] || die "NODES must be 1 or 2, got '$NODES'"
    [[ $HA == [01] ]] || die "HA must be 0 or 1, got '$HA'"
    ha_settings
    if ha_in_use; then
        # Several machines' worth: two nodes too.
        NODES=2
        SERVICES+=("${HA_SERVICES[@]}")
    fi
    WS2_PORT=$((WS_PORT + 1))
    REFUSALS_PORT=$((WS_PORT + 2))
    # The paths go unquoted into pg_ctl -o and the generated configs.
    [[ $STACK_DIR =~ ^[A-Za-z0-9_./+-]+$ ]] || die "STACK_DIR must not contain spaces or quotes: $STACK_DIR"
    # sun_path holds 107 bytes plus the NUL.
    ((${#API2_SOCKET} <= 107)) || die "socket path too long for a unix socket (${#API2_SOCKET} > 107): $API2_SOCKET; use a shorter STACK_DIR"
}

require_app_binaries() {
    local bin
    for bin in leaderboardctl leaderboard-api leaderboard-ws; do
        [[ -x $BIN_DIR/$bin ]] || die "$BIN_DIR/$bin not found: build first (make build), or set BIN_DIR"
    done
}

# http://127.0.0.1:$HTTP_PORT PATH's status code, through nginx; 000 if nothing answers.
http_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$HTTP_PORT$1" 2>/dev/null || true
}

# --- components ----------------------------------------------------------

# One file per component, each with its start, stop and readiness checks.
# shellcheck source=scripts/stack/postgres.sh
source "$REPO_ROOT/scripts/stack/postgres.sh"
# shellcheck source=scripts/stack/redis.sh
source "$REPO_ROOT/scripts/stack/redis.sh"
# shellcheck source=scripts/stack/app.sh
source "$REPO_ROOT/scripts/stack/app.sh"
# shellcheck source=scripts/stack/nginx.sh
source "$REPO_ROOT/scripts/stack/nginx.sh"
# shellcheck source=scripts/stack/ha.sh
source "$REPO_ROOT/scripts/stack/ha.sh"

# --- commands ----------------------------------------------------------------

start_service() {
    case $1 in
    postgres) pg_start ;;
    redis) redis_start ;;
    api | api2 | ws | ws2)
        daemon_start "$1"
        wait_daemon_ready "$1"
        ;;
    nginx) nginx_start ;;
    postgres2 | redis[23] | sentinel*) ha_service_start "$1" ;;
    *) die "unknown service '$1' (one of: ${SERVICES[*]})" ;;
    esac
}

stop_service() {
    case $1 in
    postgres) pg_stop ;;
    redis) redis_stop ;;
    api | api2 | ws | ws2) daemon_stop "$1" ;;
    nginx) nginx_stop ;;
    postgres2 | redis[23] | sentinel*) ha_service_stop "$1" ;;
    *) die "unknown service '$1' (one of: ${SERVICES[*]})" ;;
    esac
}

# Prints the pid of the real process of service NAME, if it runs.
service_pid() {
    case $1 in
    postgres) pg_pid ;;
    redis) redis_pid ;;
    api | api2 | ws | ws2) daemon_pid "$1" ;;
    nginx) nginx_pid ;;
    postgres2 | redis[23] | sentinel*) ha_service_pid "$1" ;;
    *) die "unknown service '$1' (one of: ${SERVICES[*]})" ;;
    esac
}

# SIGKILL the real process, as a crash would.
kill_service() {
    local pid
    pid=$(service_pid "$1") || die "$1 is not running"
    say "killing $1 (pid $pid)"
    if [[ $1 == nginx ]]; then
        # Workers do not exit with their master: kill its process group.
        kill -KILL -- "-$pid"
    else
        kill -KILL "$pid"
    fi
}

cmd_start() {
    mkdir -p "$RUN" "$LOG"
    # First: it refuses to go on if an existing env file disagrees.
    write_env_file
    pg_start
    redis_start
    ha_in_use && ha_start_stores
    if [[ $NO_APP == 1 ]]; then
        nginx_start
        say "NO_APP=1: api and ws not started"
    else
        require_app_binaries
        migrate_and_seed
        local name
        for name in $(app_daemons); do daemon_start "$name"; done
        nginx_start
        if ((NODES == 2)); then
            for name in api api2 ws ws2; do wait_daemon_ready "$name"; done
        else
            wait_daemon_ready ws
            # Left over from a NODES=2 start: nginx no longer passes to it.
            for name in ws2 api2; do
                if supervisor_pid "$name" >/dev/null || daemon_pid "$name" >/dev/null; then daemon_stop "$name"; fi
            done
        fi
        if ! wait_for "$READY_TIMEOUT" health_ok; then
            tail -n 20 "$LOG/api.log" >&2
            die "GET /api/v1/health is $(http_code /api/v1/health), not 200, after $READY_TIMEOUT s (log: $LOG/api.log)"
        fi
    fi
    say "ready: http://127.0.0.1:$HTTP_PORT"
    if [[ $SEED_DEMO == 1 ]]; then
        local email
        email=$("$PG_BIN/psql" -X -q -At -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d leaderboard \
            -c "SELECT email FROM users WHERE email LIKE '%@demo.example.com' ORDER BY id LIMIT 1") || true
        if [[ -n $email ]]; then say "demo login: $email, password 123456"; fi
    fi
}

cmd_stop() {
    local name names=(nginx ws api redis postgres) failed=0
    node2_in_use && names=(nginx ws ws2 api api2 redis postgres)
    # The Sentinels first, so that stopping redis starts no failover; each primary before its copy.
    ha_in_use && names=(nginx ws ws2 api api2 "${SENTINELS[@]}" redis "${REPLICAS[@]}" postgres postgres2)
    # Front to back, so nothing serves while what it needs goes away.
    for name in "${names[@]}"; do
        (stop_service "$name") || failed=1
    done
    return "$failed"
}

cmd_status() {
    local all=0 name names=(postgres redis api ws nginx) pid where state extra
    node2_in_use && names=(postgres redis api api2 ws ws2 nginx)
    ha_in_use && names=(postgres postgres2 redis "${REPLICAS[@]}" "${SENTINELS[@]}" api api2 ws ws2 nginx)
    for name in "${names[@]}"; do
        extra=''
        case $name in
        postgres) where="127.0.0.1:$PG_PORT" ;;
        redis) where="127.0.0.1:$REDIS_PORT" ;;
        api) where="unix:$API_SOCKET" ;;
        api2) where="unix:$API2_SOCKET" ;;
        ws) where="127.0.0.1:$WS_PORT" ;;
        ws2) where="127.0.0.1:$WS2_PORT" ;;
        nginx) where="http://127.0.0.1:$HTTP_PORT" ;;
        postgres2) where="127.0.0.1:$PG2_PORT" ;;
        redis[23]) where="127.0.0.1:$(replica_port "$name")" ;;
        sentinel*) where="127.0.0.1:$(sentinel_port "$name")" ;;
        esac
        if pid=$(service_pid "$name"); then
            state=running
            if [[ $name == api* || $name == ws* ]]; then
                extra=" (supervisor $(supervisor_pid "$name" || echo none))"
            fi
            ha_in_use && where+=$(service_role "$name")
        else
            state=stopped
            pid='-'
            all=3
        fi
        printf '%-9s %-8s pid %-26s %s\n' "$name" "$state" "$pid$extra" "$where"
    done
    return "$all"
}

cmd_logs() {
    local files=()
    case ${1:-all} in
    all) files=("$LOG"/*.log) ;;
    nginx) files=("$LOG/nginx-error.log" "$LOG/nginx-access.log") ;;
    postgres | redis | api | api2 | ws | ws2 | postgres2 | redis[23] | sentinel*) files=("$LOG/$1.log") ;;
    *) die "unknown service '$1' (one of: ${SERVICES[*]})" ;;
    esac
    exec tail -n 20 -F "${files[@]}"
}

usage() {
    sed -n '2,13s/^# \{0,1\}//p' "$SCRIPT" >&2
    exit 2
}

main() {
    local command=${1:-}
    [[ -n $command ]] || usage
    shift
    if [[ $command == _supervise ]]; then
        supervise "$@"
        return
    fi
    check_settings
    case $command in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    start-service | stop-service | kill-service)
        [[ $# -eq 1 ]] || usage
        [[ " ${SERVICES[*]} " == *" $1 "* ]] || die "unknown service '$1' (one of: ${SERVICES[*]})"
        "${command//-/_}" "$1"
        ;;
    promote-standby) promote_standby ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
