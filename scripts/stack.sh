#!/usr/bin/env bash
# The dev/test stack: a private PostgreSQL, Redis, leaderboard-api,
# leaderboard-ws and nginx, all under $STACK_DIR and on 127.0.0.1 only.
#
#   scripts/stack.sh start|stop|status|logs [NAME]
#   scripts/stack.sh start-service|stop-service|kill-service NAME
#
# NAME is one of: postgres redis api api2 ws ws2 nginx (api2, ws2: NODES=2).
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
# node 1's api also takes UDP on WS_PORT+2, where nginx sends its refusals to be counted.
#   READY_TIMEOUT 30 (seconds to wait for each component to become ready)
# Ports stay below 32768, the ephemeral range (see PITFALLS.md).
#
# The daemons read $STACK_DIR/leaderboard.env (via LEADERBOARD_ENV_FILE) and
# start with an otherwise clean environment, so what that file says is what
# runs; only node 2's daemons get their own API_LISTEN or WS_LISTEN on top,
# node 1's api NGINX_REFUSALS_LISTEN, and TSAN_OPTIONS, ASAN_OPTIONS,
# UBSAN_OPTIONS, LSAN_OPTIONS when set (for a sanitizer build in BIN_DIR).
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

# --- PostgreSQL --------------------------------------------------------------

# PostgreSQL refuses to run as root: as root, run its tools as the 'postgres'
# system user that Debian's package creates. From / so that an unreadable
# working directory does not trouble them.
if ((EUID == 0)); then
    PG_OS_USER=postgres
    as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
    PG_OS_USER=$(id -un)
    as_pg() { "$@"; }
fi

PG_BIN=
pg_bin() {
    [[ -n $PG_BIN ]] && return 0
    if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
        PG_BIN=/usr/lib/postgresql/15/bin
    elif command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        PG_BIN=$(dirname "$(command -v pg_ctl)")
    else
        die "PostgreSQL 15 (initdb, pg_ctl) not found: run make deps"
    fi
}

pg_pid() { live_pid "$PG_DATA/postmaster.pid" postgres; }

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

# As root the cluster runs as 'postgres', which must reach the stack directory.
# A checkout under a private directory (/root, a mktemp -d) is not reachable:
# grant search permission (not listing) on each directory above it that needs
# it, and say so.
pg_grant_search() {
    local dir=$1 ancestors=()
    while [[ $dir != / ]]; do
        ancestors=("$dir" "${ancestors[@]}")
        dir=$(dirname "$dir")
    done
    for dir in "${ancestors[@]}"; do
        if ! as_pg test -x "$dir"; then
            say "chmod o+x $dir (for the postgres user)"
            chmod o+x "$dir"
        fi
    done
    as_pg test -x "$1" || die "user postgres cannot reach $1, even after chmod o+x on the directories above it"
}

pg_prepare() {
    if ((EUID == 0)); then
        getent passwd postgres >/dev/null ||
            die "as root, PostgreSQL runs as the 'postgres' system user, which does not exist: install postgresql-15 (make deps)"
        mkdir -p "$STACK_DIR"
        pg_grant_search "$STACK_DIR"
    fi
    mkdir -p "$PG_DATA" "$PG_SOCKET_DIR" "$LOG"
    touch "$LOG/postgres.log"
    if ((EUID == 0)); then
        chown postgres: "$PG_DATA" "$PG_SOCKET_DIR" "$LOG/postgres.log"
    fi
    chmod 0700 "$PG_DATA" "$PG_SOCKET_DIR"
    local owner
    owner=$(stat -c %U "$PG_DATA")
    [[ $owner == "$PG_OS_USER" ]] ||
        die "$PG_DATA belongs to $owner, but PostgreSQL would run as $PG_OS_USER: run as that user, or remove $STACK_DIR"
}

pg_init() {
    [[ -f $PG_DATA/PG_VERSION ]] && return 0
    say "creating a PostgreSQL cluster in $PG_DATA"
    if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C --auth=trust >"$LOG/initdb.log" 2>&1; then
        tail -n 20 "$LOG/initdb.log" >&2
        die "initdb failed (log: $LOG/initdb.log)"
    fi
    # Truncating keeps the file's owner (postgres).
    cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# Written by scripts/stack.sh.
# The socket directory is 0700 and belongs to the cluster's OS user, so only
# that user (and root) reach it: the script administers the cluster there.
local all all               trust
# The services connect over TCP with a password.
host  all all 127.0.0.1/32 scram-sha-256
EOF
}

pg_ensure_database() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres >/dev/null <<'EOF'
SELECT 'CREATE ROLE leaderboard LOGIN PASSWORD ''leaderboard'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'leaderboard') \gexec
SELECT 'CREATE DATABASE leaderboard OWNER leaderboard'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'leaderboard') \gexec
EOF
}

# After a SIGKILL the postmaster can linger as a zombie (PID 1 in some
# containers never reaps), and PostgreSQL then takes its lock files (data
# directory, socket) for a live server's. A lock whose process is gone or a
# zombie is stale.
pg_clear_stale_locks() {
    local lock pid
    for lock in "$PG_DATA/postmaster.pid" "$PG_SOCKET_DIR/.s.PGSQL.$PG_PORT.lock"; do
        [[ -f $lock ]] || continue
        read -r pid <"$lock" || continue
        if [[ $pid =~ ^[0-9]+$ ]] && ! alive "$pid"; then
            say "removing the stale lock ${lock##*/} of postgres pid $pid"
            rm -f "$lock"
        fi
    done
}

pg_start() {
    pg_bin
    if pg_pid >/dev/null; then
        say "postgres is already running"
    else
        pg_prepare
        pg_init
        pg_clear_stale_locks
        say "starting postgres on 127.0.0.1:$PG_PORT"
        # Settings that follow the environment go on the command line, so a
        # changed port needs no edit of postgresql.conf.
        if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOG/postgres.log" -s -w -t "$READY_TIMEOUT" \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCKET_DIR" start; then
            tail -n 20 "$LOG/postgres.log" >&2
            die "postgres did not start (log: $LOG/postgres.log)"
        fi
    fi
    wait_for "$READY_TIMEOUT" pg_ready || die "postgres is not accepting connections on 127.0.0.1:$PG_PORT"
    pg_ensure_database
}

pg_stop() {
    if ! pg_pid >/dev/null; then
        say "postgres is not running"
        return 0
    fi
    pg_bin
    say "stopping postgres"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -s -m fast -w -t 60 stop || warn "pg_ctl stop failed"
}

# --- Redis -----------------------------------------------------------------

redis_pid() { live_pid "$RUN/redis.pid" redis-server; }

redis_ready() { [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

redis_start() {
    command -v redis-server >/dev/null || die "redis-server not found: run make deps"
    if redis_pid >/dev/null; then
        say "redis is already running"
    else
        mkdir -p "$STACK_DIR/redis" "$RUN" "$LOG"
        # Redis is an index rebuilt from PostgreSQL: no persistence.
        cat >"$STACK_DIR/redis.conf" <<EOF
# Generated by scripts/stack.sh on every start; edits are lost.
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $RUN/redis.pid
logfile $LOG/redis.log
dir $STACK_DIR/redis
save ""
appendonly no
unixsocket $REDIS_SOCKET
unixsocketperm 700
EOF
        say "starting redis on 127.0.0.1:$REDIS_PORT"
        redis-server "$STACK_DIR/redis.conf" || die "redis-server failed (log: $LOG/redis.log)"
    fi
    if ! wait_for "$READY_TIMEOUT" redis_ready; then
        tail -n 20 "$LOG/redis.log" >&2
        die "redis does not answer PING on 127.0.0.1:$REDIS_PORT"
    fi
}

redis_stop() {
    local pid
    if ! pid=$(redis_pid); then
        say "redis is not running"
        return 0
    fi
    say "stopping redis"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 30 || {
        warn "redis did not stop in 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    }
}

# --- env file --------------------------------------------------------------

random_hex_32() {
    openssl rand -hex 32 2>/dev/null || od -An -tx1 -N32 /dev/urandom | tr -d ' \n'
}

write_env_file() {
    if [[ -e $ENV_FILE ]]; then
        check_env_file
        return 0
    fi
    local secret
    secret=$(random_hex_32)
    [[ ${#secret} -eq 64 ]] || die "could not make a random SECRET_KEY"
    say "writing $ENV_FILE"
    (
        umask 077
        cat >"$ENV_FILE.tmp" <<EOF
# Written once by scripts/stack.sh for this stack; edit freely, it is kept.
# Delete it to regenerate (a new SECRET_KEY logs everyone out).
LEADERBOARD_MODE=development
PG_USER=leaderboard
PG_PW=leaderboard
PG_SERVER=$PG_SOCKET_DIR
PG_PORT=$PG_PORT
PG_DB=leaderboard
REDIS_URL=unix://$REDIS_SOCKET
SECRET_KEY=$secret
ALGORITHM=HS256
ACCESS_TOKEN_EXPIRE_MINUTES=60
API_LISTEN=unix:$API_SOCKET
API_WORKERS=8
WS_LISTEN=127.0.0.1:$WS_PORT
BCRYPT_COST=$BCRYPT_COST
LOG_LEVEL=info
EOF
    )
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# The daemons follow the file while nginx and this script follow the
# environment: refuse to start if they disagree on where things are.
check_env_file() {
    local line
    for line in "PG_PORT=$PG_PORT" "API_LISTEN=unix:$API_SOCKET" "WS_LISTEN=127.0.0.1:$WS_PORT"; do
        grep -qxF "$line" "$ENV_FILE" ||
            die "$ENV_FILE does not say $line: edit it, or delete it to regenerate"
    done
    grep -qxF -e "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" -e "REDIS_URL=unix://$REDIS_SOCKET" "$ENV_FILE" ||
        die "$ENV_FILE does not say REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 (or unix://$REDIS_SOCKET): edit it, or delete it to regenerate"
}

# --- leaderboard-api, leaderboard-ws ---------------------------------------

# The clean environment the daemons and leaderboardctl get.
app_env() {
    local vars=(PATH="$PATH" HOME="${HOME:-/}" LANG=C.UTF-8 LEADERBOARD_ENV_FILE="$ENV_FILE") name
    [[ -n ${TERM:-} ]] && vars+=(TERM="$TERM")
    # A sanitizer build's runtime options (make test-sanitize runs the daemons under TSan).
    for name in TSAN_OPTIONS ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
        [[ -n ${!name:-} ]] && vars+=("$name=${!name}")
    done
    env -i "${vars[@]}" "$@"
}

ctl() { app_env "$BIN_DIR/leaderboardctl" "$@"; }

migrate_and_seed() {
    say "migrating the database"
    ctl migrate || die "leaderboardctl migrate failed"
    if [[ $SEED_DEMO == 1 && ! -e $STACK_DIR/.seeded ]]; then
        say "seeding demo data (once)"
        ctl seed --users 1000 --days 30 || die "leaderboardctl seed failed"
        touch "$STACK_DIR/.seeded"
    fi
    # Redis here keeps nothing on disk: after its restart the boards are rebuilt from PostgreSQL.
    ctl rebuild --if-missing >/dev/null || die "leaderboardctl rebuild failed"
}

binary_of() {
    case $1 in
    api | api2) printf '%s\n' leaderboard-api ;;
    ws | ws2) printf '%s\n' leaderboard-ws ;;
    esac
}

# The api and ws daemons this stack runs, in start order: node 1's, then
# node 2's when NODES=2.
app_daemons() {
    if ((NODES == 2)); then printf '%s\n' api api2 ws ws2; else printf '%s\n' api ws; fi
}

# Node 2 is in use: NODES=2, or a daemon of it is still running (say, from an
# earlier NODES=2 start), so stop and status must not overlook it.
node2_in_use() {
    ((NODES == 2)) || supervisor_pid api2 >/dev/null || supervisor_pid ws2 >/dev/null ||
        daemon_pid api2 >/dev/null || daemon_pid ws2 >/dev/null
}

# What a daemon gets on top of the env file: node 2's their own address; node 1's api the UDP port
# where it counts nginx's refusals (nginx/dev.conf.template sends them there).
node_env() {
    case $1 in
    api) printf '%s\n' "NGINX_REFUSALS_LISTEN=127.0.0.1:$REFUSALS_PORT" ;;
    api2) printf '%s\n' "API_LISTEN=unix:$API2_SOCKET" ;;
    ws2) printf '%s\n' "WS_LISTEN=127.0.0.1:$WS2_PORT" ;;
    esac
}

supervisor_pid() { live_pid "$RUN/$1.supervisor.pid" "_supervise $1 "; }
daemon_pid() { live_pid "$RUN/$1.pid" "$(binary_of "$1")"; }

# The dev supervisor, run as `stack.sh _supervise NAME RUN_DIR PROGRAM...`
# with stdout/stderr on the daemon's log. It restarts PROGRAM whenever it
# exits, until the supervisor itself gets TERM/INT: then it forwards TERM to
# PROGRAM, waits for it and exits. Every exit is logged with its status, so a
# test can tell a clean shutdown (0) from a crash.
supervise() {
    local name=$1 run=$2
    shift 2
    local program=${1##*/} child='' pid status code seen started delay=1 sleeper
    stopping=0 signals=0
    echo $$ >"$run/$name.supervisor.pid"
    trap 'signals=$((signals + 1)) stopping=1; if [[ -n $child ]]; then kill -TERM "$child" 2>/dev/null || true; fi' TERM INT
    while ((!stopping)); do
        started=$SECONDS
        "$@" &
        child=$!
        pid=$child
        echo "$pid" >"$run/$name.pid"
        # A TERM that came before $child was set was not forwarded.
        if ((stopping)); then kill -TERM "$pid" 2>/dev/null || true; fi
        echo "$(date -u +%FT%TZ) supervisor: started $program (pid $pid)"
        # wait also returns (> 128) when a trapped signal arrives: then wait
        # again for the child's own status (bash keeps it if it has already
        # reaped the child). 127 means that status was already collected:
        # the signal raced with the exit.
        status=''
        while :; do
            seen=$signals
            wait "$pid" && code=0 || code=$?
            [[ $code == 127 && -n $status ]] || status=$code
            ((signals == seen)) && break
        done
        child=''
        rm -f "$run/$name.pid"
        if ((status > 128)); then
            echo "$(date -u +%FT%TZ) supervisor: $program exited with status $status (pid $pid), killed by signal $(kill -l $((status - 128)))"
        else
            echo "$(date -u +%FT%TZ) supervisor: $program exited with status $status (pid $pid)"
        fi
        ((stopping)) && break
        # Back off when it keeps dying at once (bad config, port in use).
        if ((SECONDS - started < 5)); then
            echo "$(date -u +%FT%TZ) supervisor: restarting $program in ${delay} s"
            sleep "$delay" &
            sleeper=$!
            wait "$sleeper" || true
            kill "$sleeper" 2>/dev/null || true
            delay=$((delay < 8 ? delay * 2 : 8))
        else
            delay=1
        fi
    done
    rm -f "$run/$name.supervisor.pid"
    echo "$(date -u +%FT%TZ) supervisor: stopped"
}

# Which build a daemon runs: path, mtime, inode, size of its binary.
binary_signature() { stat -c '%n %Y %i %s' "$1" 2>/dev/null || true; }

daemon_start() {
    local name=$1 program binary signature node_vars
    program=$(binary_of "$name")
    mapfile -t node_vars < <(node_env "$name")
    binary="$BIN_DIR/$program"
    [[ -x $binary ]] || die "$binary not found: build first (make build), or set BIN_DIR"
    signature=$(binary_signature "$binary")
    if supervisor_pid "$name" >/dev/null; then
        # make run after a rebuild should serve the new code.
        if [[ $(cat "$RUN/$name.binary" 2>/dev/null) == "$signature" ]]; then
            say "$name is already running"
            return 0
        fi
        say "$name: $binary is new; restarting"
        daemon_stop "$name"
    fi
    [[ -e $ENV_FILE ]] || die "$ENV_FILE is missing: run scripts/stack.sh start"
    mkdir -p "$RUN" "$LOG"
    # A child left over from a supervisor that was killed would hold the socket.
    daemon_stop_orphan "$name"
    say "starting $name"
    printf '%s\n' "$signature" >"$RUN/$name.binary"
    # setsid: the stack outlives the terminal and make that started it.
    app_env "${node_vars[@]}" setsid bash "$SCRIPT" _supervise "$name" "$RUN" "$binary" </dev/null >>"$LOG/$name.log" 2>&1 &
    wait_for 5 supervisor_pid "$name" >/dev/null || die "the $name supervisor did not start (log: $LOG/$name.log)"
}

daemon_stop_orphan() {
    local pid
    pid=$(daemon_pid "$1") || return 0
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 30 || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RUN/$1.pid"
}

daemon_stop() {
    local name=$1 supervisor child
    if supervisor=$(supervisor_pid "$name"); then
        say "stopping $name"
        child=$(daemon_pid "$name") || child=''
        kill -TERM "$supervisor" 2>/dev/null || true
        if ! wait_gone "$supervisor" 30; then
            warn "$name did not stop in 30 s; killing it"
            if [[ -n $child ]]; then kill -KILL "$child" 2>/dev/null || true; fi
            kill -KILL "$supervisor" 2>/dev/null || true
        fi
        rm -f "$RUN/$name.supervisor.pid"
    else
        say "$name is not running"
    fi
    daemon_stop_orphan "$name"
}

# PORT: WS_PORT, or node 2's.
ws_ready() { (: <"/dev/tcp/127.0.0.1/${1:-$WS_PORT}") 2>/dev/null; }

# True if a process listens on the unix socket PATH; the file alone, left
# behind by a crash, does not count (flag 00010000: accepting connections).
unix_listening() {
    awk -v path="$1" '$8 == path && $4 == "00010000" { found = 1 } END { exit !found }' /proc/net/unix 2>/dev/null
}

http_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$HTTP_PORT$1" 2>/dev/null || true
}

health_ok() { [[ $(http_code /api/v1/health) == 200 ]]; }

# The api is up when it answers through nginx at all (503: a store is down);
# nginx's own 503 when there is no api behind it says X-Upstream-Unavailable.
api_answers() {
    local head
    head=$(curl -s -o /dev/null -D - --max-time 3 "http://127.0.0.1:$HTTP_PORT/api/v1/health" 2>/dev/null) || return 1
    [[ $head =~ ^HTTP/[0-9.]+\ (200|503) ]] || return 1
    ! grep -qi '^x-upstream-unavailable:' <<<"$head"
}

api_ready() {
    if nginx_pid >/dev/null; then api_answers; else [[ -S $API_SOCKET ]]; fi
}

# With two pools behind nginx an answer through it may come from either, so
# then each pool is ready when it listens on its own socket.
api_node_ready() {
    if ((NODES == 1)) && [[ $1 == "$API_SOCKET" ]]; then api_ready; else unix_listening "$1"; fi
}

wait_daemon_ready() {
    case $1 in
    api) wait_for "$READY_TIMEOUT" api_node_ready "$API_SOCKET" ;;
    api2) wait_for "$READY_TIMEOUT" api_node_ready "$API2_SOCKET" ;;
    ws) wait_for "$READY_TIMEOUT" ws_ready "$WS_PORT" ;;
    ws2) wait_for "$READY_TIMEOUT" ws_ready "$WS2_PORT" ;;
    esac || {
        tail -n 20 "$LOG/$1.log" >&2
        die "$1 is not ready after $READY_TIMEOUT s (log: $LOG/$1.log)"
    }
}

# --- nginx -----------------------------------------------------------------

nginx_pid() { live_pid "$RUN/nginx.pid" nginx; }

sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# The server lines of an upstream block, one per node, escaped for sed's
# replacement (GNU sed makes \n a newline); the template says why
# max_fails=0. Usage: upstream_servers api|ws
upstream_servers() {
    local addresses address out=''
    if [[ $1 == api ]]; then
        addresses=("unix:$API_SOCKET" "unix:$API2_SOCKET")
    else
        addresses=("127.0.0.1:$WS_PORT" "127.0.0.1:$WS2_PORT")
    fi
    for address in "${addresses[@]:0:NODES}"; do
        [[ -z $out ]] || out+='\n        '
        out+="server $(sed_escape "$address") max_fails=0;"
    done
    printf '%s' "$out"
}

nginx_render() {
    local template="$REPO_ROOT/nginx/dev.conf.template" out=$1 user_directive=''
    [[ -r $template ]] || die "$template is missing"
    # As root, nginx would run its workers as nobody, who cannot reach the
    # api socket; the stack is private, so keep the invoking user.
    ((EUID == 0)) && user_directive="user $(id -un) $(id -gn);"
    sed -e "s|@STACK_DIR@|$(sed_escape "$STACK_DIR")|g" \
        -e "s|@HTML_ROOT@|$(sed_escape "$REPO_ROOT/nginx/html")|g" \
        -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
        -e "s|@API_SERVERS@|$(upstream_servers api)|g" \
        -e "s|@WS_SERVERS@|$(upstream_servers ws)|g" \
        -e "s|@AUTH_RATE@|$(sed_escape "$AUTH_RATE")|g" \
        -e "s|@REFUSALS_PORT@|$REFUSALS_PORT|g" \
        -e "s|@USER_DIRECTIVE@|$(sed_escape "$user_directive")|g" \
        "$template" >"$out"
    if grep -nE '^[^#]*@[A-Z_]+@' "$out" >&2; then
        die "unknown placeholders left in $out (see above)"
    fi
}

# nginx CONFIG [ARGS...]: nginx -c needs an absolute path; -e keeps the
# startup errors out of the system's log.
nginx_cmd() { "$NGINX" -p "$STACK_DIR/nginx/" -e "$LOG/nginx-error.log" -c "$@"; }

nginx_listening() { [[ $(http_code /) != 000 ]]; }

nginx_start() {
    [[ -x $NGINX ]] || die "$NGINX not found: run make deps"
    mkdir -p "$STACK_DIR"/nginx/{client_body,proxy,fastcgi,uwsgi,scgi} "$RUN" "$LOG"
    local conf="$STACK_DIR/nginx.conf" pid
    nginx_render "$conf.new"
    if ! nginx_cmd "$conf.new" -q -t; then
        die "the generated nginx config is invalid: $conf.new"
    fi
    if pid=$(nginx_pid); then
        if cmp -s "$conf.new" "$conf"; then
            rm -f "$conf.new"
            say "nginx is already running"
        else
            mv "$conf.new" "$conf"
            say "nginx config changed: reloading"
            kill -HUP "$pid"
        fi
        return 0
    fi
    mv "$conf.new" "$conf"
    say "starting nginx on 127.0.0.1:$HTTP_PORT"
    nginx_cmd "$conf" || die "nginx did not start (log: $LOG/nginx-error.log)"
    wait_for "$READY_TIMEOUT" nginx_listening || die "nginx does not answer on 127.0.0.1:$HTTP_PORT"
}

nginx_stop() {
    local pid
    if ! pid=$(nginx_pid); then
        say "nginx is not running"
        return 0
    fi
    say "stopping nginx"
    # QUIT is the graceful stop; worker_shutdown_timeout bounds it.
    kill -QUIT "$pid" 2>/dev/null || true
    wait_gone "$pid" 15 || {
        warn "nginx did not stop in 15 s; killing it"
        kill -KILL -- "-$pid" 2>/dev/null || true
    }
}

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
    *) die "unknown service '$1' (one of: ${SERVICES[*]})" ;;
    esac
}

stop_service() {
    case $1 in
    postgres) pg_stop ;;
    redis) redis_stop ;;
    api | api2 | ws | ws2) daemon_stop "$1" ;;
    nginx) nginx_stop ;;
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
    # Front to back, so nothing serves while what it needs goes away.
    for name in "${names[@]}"; do
        (stop_service "$name") || failed=1
    done
    return "$failed"
}

cmd_status() {
    local all=0 name names=(postgres redis api ws nginx) pid where state extra
    node2_in_use && names=("${SERVICES[@]}")
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
        esac
        if pid=$(service_pid "$name"); then
            state=running
            if [[ $name == api* || $name == ws* ]]; then
                extra=" (supervisor $(supervisor_pid "$name" || echo none))"
            fi
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
    postgres | redis | api | api2 | ws | ws2) files=("$LOG/$1.log") ;;
    *) die "unknown service '$1' (one of: ${SERVICES[*]})" ;;
    esac
    exec tail -n 20 -F "${files[@]}"
}

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$SCRIPT" >&2
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
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
