# shellcheck shell=bash
# leaderboard-api and leaderboard-ws: their env file, migrations and seeding, the supervised daemons.
# Sourced by scripts/stack.sh (not run), with its settings and helpers in scope.

# --- env file --------------------------------------------------------------

random_hex_32() {
    openssl rand -hex 32 2>/dev/null || od -An -tx1 -N32 /dev/urandom | tr -d ' \n'
}

# Where the daemons find the stores: HA=1 lists both PostgreSQL servers (libpq keeps the primary) and
# names the Sentinels, which name the Redis primary.
env_store_lines() {
    if ha_in_use; then
        printf '%s\n' "PG_SERVER=$PG_SOCKET_DIR,$PG2_SOCKET_DIR" "PG_PORT=$PG_PORT,$PG2_PORT" "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" \
            "REDIS_SENTINELS=$(sentinel_addresses)" "REDIS_MASTER_NAME=$REDIS_MASTER_NAME" \
            "REDIS_READ_REPLICAS=$([[ $READ_REPLICAS == 1 ]] && echo true || echo false)"
    else
        printf '%s\n' "PG_SERVER=$PG_SOCKET_DIR" "PG_PORT=$PG_PORT" "REDIS_URL=unix://$REDIS_SOCKET"
    fi
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
PG_DB=leaderboard
$(env_store_lines)
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
    for line in "$(env_store_lines | grep '^PG_PORT=')" "API_LISTEN=unix:$API_SOCKET" "WS_LISTEN=127.0.0.1:$WS_PORT"; do
        grep -qxF "$line" "$ENV_FILE" ||
            die "$ENV_FILE does not say $line: edit it, or delete it to regenerate"
    done
    if ha_in_use; then
        line=$(env_store_lines | grep '^REDIS_SENTINELS=')
        grep -qxF "$line" "$ENV_FILE" || die "$ENV_FILE does not say $line: edit it, or delete it to regenerate"
        return 0
    fi
    grep -qxF -e "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" -e "REDIS_URL=unix://$REDIS_SOCKET" "$ENV_FILE" ||
        die "$ENV_FILE does not say REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 (or unix://$REDIS_SOCKET): edit it, or delete it to regenerate"
}

# --- daemons ---------------------------------------------------------------

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
